package danube_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
)

func TestConformanceReliableRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Name: "p1", Reliable: true})

	at := time.Date(2026, 5, 1, 10, 0, 0, 987_654_321, time.UTC)
	const n = 20
	for i := range n {
		err := p.Send(testContext(t), danube.Message{
			Payload:     []byte(strconv.Itoa(i)),
			Attributes:  map[string]string{"i": strconv.Itoa(i)},
			RoutingKey:  "key",
			PublishTime: at,
		})
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}

	for i := range n {
		m := receive(t, cons)
		if got := string(m.Payload); got != strconv.Itoa(i) {
			t.Fatalf("message %d: payload %q", i, got)
		}
		if m.Attributes["i"] != strconv.Itoa(i) {
			t.Errorf("message %d: attributes %v", i, m.Attributes)
		}
		if m.ID.Topic != name || m.ID.Offset != uint64(i) || m.Partition() != -1 {
			t.Errorf("message %d: id %+v partition %d, want topic %s offset %d partition -1", i, m.ID, m.Partition(), name, i)
		}
		if m.ProducerName != "p1" || m.RoutingKey != "key" {
			t.Errorf("message %d: producer %q routing key %q", i, m.ProducerName, m.RoutingKey)
		}
		if !m.PublishTime.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("message %d: publish time %v, want %v", i, m.PublishTime, at.Truncate(time.Millisecond))
		}
		if m.DeliveryAttempt != 1 || m.HasSchema {
			t.Errorf("message %d: attempt %d, has schema %v", i, m.DeliveryAttempt, m.HasSchema)
		}
		ack(t, cons, m)
	}

	if b := e.broker; b != nil {
		eventually(t, "the cursor covers every acked message", func() bool {
			st, ok := b.Subscription(name, "sub")
			return ok && st.Cursor == n-1 && len(st.Pending) == 0
		})
	}
}

func TestConformanceNonReliableRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, false, 0)

	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name})
	send(t, p, "hello")

	m := receive(t, cons)
	if string(m.Payload) != "hello" || m.ID.Offset != 0 {
		t.Fatalf("got %q at offset %d, want hello at 0", m.Payload, m.ID.Offset)
	}
	ack(t, cons, m) // accepted, and a no-op on a non-reliable topic
}

func TestConformanceDispatchStrategyMismatch(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	_, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: false})
	if !errors.Is(err, danube.ErrFailedPrecondition) {
		t.Fatalf("non-reliable producer on a reliable topic: %v, want ErrFailedPrecondition", err)
	}
}

func TestConformancePartitionedTopic(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	const parts = 3
	createTopic(t, c, name, true, parts)

	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	if got := cons.Partitions(); len(got) != parts || got[0] != danube.PartitionName(name, 0) || got[2] != danube.PartitionName(name, 2) {
		t.Fatalf("Partitions() = %v, want %d partitions of %s", got, parts, name)
	}
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true, Partitions: parts})

	// Keyed messages land on FNV-1a(key) mod 3: "a" → 1, "foobar" → 0,
	// "order-42" → 2. Keyless ones go round robin.
	keyed := map[string]int{"a": 1, "foobar": 0, "order-42": 2}
	for key := range keyed {
		if err := p.Send(testContext(t), danube.Message{Payload: []byte(key), RoutingKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range parts {
		send(t, p, "rr-"+strconv.Itoa(i))
	}

	perPartition := map[int]int{}
	for range len(keyed) + parts {
		m := receive(t, cons)
		perPartition[m.Partition()]++
		if want, ok := keyed[string(m.Payload)]; ok && m.Partition() != want {
			t.Errorf("key %q arrived from partition %d, want %d", m.Payload, m.Partition(), want)
		}
		if m.ID.Topic != danube.PartitionName(name, m.Partition()) {
			t.Errorf("message id topic %q does not name partition %d", m.ID.Topic, m.Partition())
		}
		ack(t, cons, m)
	}
	for i := range parts {
		if perPartition[i] != 2 {
			t.Errorf("partition %d delivered %d messages, want 2 (one keyed, one round robin)", i, perPartition[i])
		}
	}

	if b := e.broker; b != nil {
		for i := range parts {
			part := danube.PartitionName(name, i)
			eventually(t, "each partition's cursor moved by its own acks", func() bool {
				st, ok := b.Subscription(part, "sub")
				return ok && st.Cursor == 1
			})
		}
	}
}

func TestConformanceClientListsPartitions(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	parted, plain := topic(t), topic(t)
	createTopic(t, c, parted, true, 3)
	createTopic(t, c, plain, true, 0)

	got, err := c.Partitions(testContext(t), parted)
	if err != nil || len(got) != 3 || got[0] != danube.PartitionName(parted, 0) || got[2] != danube.PartitionName(parted, 2) {
		t.Fatalf("Partitions(partitioned) = %v, %v; want its 3 partitions in order", got, err)
	}
	got, err = c.Partitions(testContext(t), plain)
	if err != nil || len(got) != 1 || got[0] != plain {
		t.Fatalf("Partitions(non-partitioned) = %v, %v; want the topic itself", got, err)
	}
	if _, err := c.Partitions(testContext(t), topic(t)); !errors.Is(err, danube.ErrNoPartitions) {
		t.Fatalf("Partitions(missing) = %v, want ErrNoPartitions", err)
	}
	if _, err := c.Partitions(testContext(t), "nope"); !errors.Is(err, danube.ErrInvalidTopic) {
		t.Fatalf("Partitions(invalid) = %v, want ErrInvalidTopic", err)
	}
}

func TestConformanceExclusiveRejectsSecondName(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "first", Type: danube.Exclusive})
	_, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "second", Type: danube.Exclusive})
	if !errors.Is(err, danube.ErrPermissionDenied) {
		t.Fatalf("second name on an exclusive subscription: %v, want ErrPermissionDenied", err)
	}

	// The same name comes back: takeover.
	again := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "first", Type: danube.Exclusive})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "x")
	ack(t, again, receive(t, again))
}

func TestConformanceSharedSpreadsMessages(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	a := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "a"})
	b := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "b"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	const n = 10
	for i := range n {
		send(t, p, strconv.Itoa(i))
	}

	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	for who, cons := range map[string]*danube.Consumer{"a": a, "b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := cons.Receive(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got[string(m.Payload)] = who
				full := len(got) == n
				mu.Unlock()
				_ = cons.Ack(ctx, m)
				if full {
					cancel()
				}
			}
		}()
	}
	wg.Wait()

	if len(got) != n {
		t.Fatalf("received %d distinct messages, want %d", len(got), n)
	}
	count := map[string]int{}
	for _, who := range got {
		count[who]++
	}
	if count["a"] == 0 || count["b"] == 0 {
		t.Fatalf("shared subscription gave %v, want messages for both consumers", count)
	}
}

func TestConformanceFailoverDeliversToFirstConsumer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	active := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "active", Type: danube.Failover})
	standby := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "standby", Type: danube.Failover})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	for i := range 3 {
		send(t, p, strconv.Itoa(i))
	}
	for i := range 3 {
		m := receive(t, active)
		if string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("active consumer got %q, want %d in order", m.Payload, i)
		}
		ack(t, active, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m, err := standby.Receive(ctx); err == nil {
		t.Fatalf("standby consumer received %q", m.Payload)
	}
}

func TestConformanceKeySharedFilters(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	eu := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "eu", Type: danube.KeyShared, KeyFilters: []string{"eu-*"}})
	us := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "us", Type: danube.KeyShared, KeyFilters: []string{"us-*"}})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	for _, key := range []string{"eu-1", "us-1", "eu-2", "us-2"} {
		if err := p.Send(testContext(t), danube.Message{Payload: []byte(key), RoutingKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		cons   *danube.Consumer
		prefix string
	}{{eu, "eu-"}, {us, "us-"}} {
		for range 2 {
			m := receive(t, tc.cons)
			if string(m.Payload[:3]) != tc.prefix || m.RoutingKey != string(m.Payload) {
				t.Errorf("consumer for %s* got key %q (payload %q)", tc.prefix, m.RoutingKey, m.Payload)
			}
			ack(t, tc.cons, m)
		}
	}
}

func TestConformanceKeyFiltersNeedKeyShared(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	_, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: topic(t), Subscription: "s", KeyFilters: []string{"x"}})
	if !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("key filters on a Shared subscription: %v, want ErrInvalidArgument", err)
	}
}

func TestConformanceConsumerOfMissingTopic(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	_, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: topic(t), Subscription: "s"})
	if !errors.Is(err, danube.ErrNoPartitions) || !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("consumer of a missing topic: %v, want ErrNoPartitions (NotFound)", err)
	}
}

func TestConformanceInvalidTopicRejectedBeforeAnyCall(t *testing.T) {
	// Nothing listens on port 1: a call would fail with UNAVAILABLE after a
	// retry, so an immediate InvalidArgument shows no call was made.
	c, err := danube.NewClient("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	for _, name := range []string{"orders", "/default/a/b", "/default/a.b", "/default/x-part-1"} {
		_, err := c.NewProducer(ctx, danube.ProducerOptions{Topic: name})
		if !errors.Is(err, danube.ErrInvalidTopic) {
			t.Errorf("NewProducer(%q) = %v, want ErrInvalidTopic", name, err)
		}
		_, err = c.NewConsumer(ctx, danube.ConsumerOptions{Topic: name, Subscription: "s"})
		if !errors.Is(err, danube.ErrInvalidTopic) {
			t.Errorf("NewConsumer(%q) = %v, want ErrInvalidTopic", name, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("validation waited on the network")
	}
}

func TestConformanceNackRedeliversWithAttemptCount(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	a := e.admin(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	// A short policy delay keeps the redelivery quick on a real clock.
	err := a.SetFailurePolicy(testContext(t), name, "sub", danube.FailurePolicy{
		MaxRedeliveryCount:  5,
		AckTimeout:          30 * time.Second,
		BaseRedeliveryDelay: 10 * time.Millisecond,
		MaxRedeliveryDelay:  50 * time.Millisecond,
		Backoff:             danube.FixedBackoff,
		PoisonPolicy:        danube.Drop,
	})
	if err != nil {
		t.Fatalf("SetFailurePolicy: %v", err)
	}
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "retry me")

	first := receive(t, cons)
	if err := cons.Nack(testContext(t), first, 0, "not yet"); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	second := receive(t, cons)
	if second.ID != first.ID {
		t.Fatalf("redelivered %+v, want %+v", second.ID, first.ID)
	}
	if first.DeliveryAttempt != 1 || second.DeliveryAttempt != 2 {
		t.Fatalf("delivery attempts %d then %d, want 1 then 2", first.DeliveryAttempt, second.DeliveryAttempt)
	}
	// The MongoDB sink's deterministic _id relies on the stored publish
	// time coming back unchanged.
	if !second.PublishTime.Equal(first.PublishTime) {
		t.Errorf("redelivered with publish time %v, first delivered with %v", second.PublishTime, first.PublishTime)
	}
	ack(t, cons, second)

	if b := e.broker; b != nil {
		if got := b.DeliveryCount(name, "sub", first.ID.Offset); got != 2 {
			t.Errorf("broker delivered %d times, want 2", got)
		}
	}
}

func TestConformanceDeadLetterAfterRedeliveries(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	a := e.admin(t)
	name := topic(t)
	dlq := "/default/dlq_" + topicStem(t) // not name + suffix: topic names must not prefix each other
	createTopic(t, c, name, true, 0)
	createTopic(t, c, dlq, true, 0)

	err := a.SetFailurePolicy(testContext(t), name, "sub", danube.FailurePolicy{
		MaxRedeliveryCount:  1,
		AckTimeout:          30 * time.Second,
		BaseRedeliveryDelay: 10 * time.Millisecond,
		MaxRedeliveryDelay:  10 * time.Millisecond,
		Backoff:             danube.FixedBackoff,
		DeadLetterTopic:     dlq,
		PoisonPolicy:        danube.DeadLetter,
	})
	if err != nil {
		t.Fatalf("SetFailurePolicy: %v", err)
	}
	policy, ok, err := a.GetFailurePolicy(testContext(t), name, "sub")
	if err != nil || !ok || policy.DeadLetterTopic != dlq || policy.PoisonPolicy != danube.DeadLetter || policy.MaxRedeliveryCount != 1 {
		t.Fatalf("GetFailurePolicy = %+v, %v, %v", policy, ok, err)
	}

	dead := newConsumer(t, c, danube.ConsumerOptions{Topic: dlq, Subscription: "dlq"})
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "poison")

	for attempt := 1; attempt <= 2; attempt++ {
		m := receive(t, cons)
		if m.DeliveryAttempt != attempt {
			t.Fatalf("delivery attempt %d, want %d", m.DeliveryAttempt, attempt)
		}
		if err := cons.Nack(testContext(t), m, 0, "cannot parse"); err != nil {
			t.Fatalf("Nack: %v", err)
		}
	}

	m := receive(t, dead)
	if string(m.Payload) != "poison" {
		t.Fatalf("dead-letter payload %q", m.Payload)
	}
	if m.Attributes["x-original-topic"] != name || m.Attributes["x-original-subscription"] != "sub" {
		t.Errorf("dead-letter attributes %v, want the original topic and subscription", m.Attributes)
	}
	if m.Attributes["x-failure-reason"] != "cannot parse" {
		t.Errorf("x-failure-reason = %q, want the nack reason", m.Attributes["x-failure-reason"])
	}
	ack(t, dead, m)
}

func TestConformanceAckOfForeignMessageRejected(t *testing.T) {
	e := newEnv(t)
	name := topic(t)
	reported := make(chan error, 1)
	c := e.client(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{
		Topic:        name,
		Subscription: "sub",
		OnAsyncError: func(_ *danube.Message, err error) { reported <- err },
	})

	foreign := &danube.Message{ID: danube.MessageID{Topic: "/default/elsewhere", Offset: 3}}
	if err := cons.Ack(testContext(t), foreign); !errors.Is(err, danube.ErrUnknownPartition) {
		t.Fatalf("Ack of a message from another topic = %v, want ErrUnknownPartition", err)
	}
	if err := cons.Nack(testContext(t), foreign, 0, ""); !errors.Is(err, danube.ErrUnknownPartition) {
		t.Fatalf("Nack of a message from another topic = %v, want ErrUnknownPartition", err)
	}
	cons.AckAsync(foreign, nil)
	if err := <-reported; !errors.Is(err, danube.ErrUnknownPartition) {
		t.Fatalf("AckAsync reported %v, want ErrUnknownPartition", err)
	}
	if err := cons.Ack(testContext(t), nil); !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("Ack(nil) = %v, want ErrInvalidArgument", err)
	}
}

func TestConformanceAckOfMessageNotReceivedRejected(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	consA := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sa", Name: "a"})
	consB := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sb", Name: "b"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "one")

	fromA := receive(t, consA)
	if err := consB.Ack(testContext(t), fromA); !errors.Is(err, danube.ErrNotReceived) {
		t.Fatalf("consumer b acked a message received by a: %v, want ErrNotReceived", err)
	}
	if err := consB.Nack(testContext(t), fromA, 0, ""); !errors.Is(err, danube.ErrNotReceived) {
		t.Fatalf("consumer b nacked a message received by a: %v, want ErrNotReceived", err)
	}
	forged := &danube.Message{ID: fromA.ID}
	if err := consA.Ack(testContext(t), forged); !errors.Is(err, danube.ErrNotReceived) || !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("Ack of a message built by hand = %v, want ErrNotReceived (InvalidArgument)", err)
	}

	// Subscription sb still gets the message, which only a's ack settled
	// for a's subscription.
	ack(t, consA, fromA)
	fromB := receive(t, consB)
	if string(fromB.Payload) != "one" || fromB.ID != fromA.ID {
		t.Fatalf("subscription sb received %q at %+v, want \"one\" at %+v", fromB.Payload, fromB.ID, fromA.ID)
	}
	ack(t, consB, fromB)
}

func TestConformanceCloseStopsConsumer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 2)

	cons, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan error, 1)
	go func() {
		_, err := cons.Receive(context.Background())
		received <- err
	}()
	if err := cons.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-received; !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Receive blocked across Close returned %v, want ErrClosed", err)
	}
	if _, err := cons.Receive(context.Background()); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Receive after Close = %v, want ErrClosed", err)
	}
	if err := cons.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// goleak in TestMain checks that every goroutine of the consumer ended.
}

func TestConformanceClientCloseClosesChildren(t *testing.T) {
	e := newEnv(t)
	c, err := danube.NewClient(e.url)
	if err != nil {
		t.Fatal(err)
	}
	name := topic(t)
	createTopic(t, c, name, true, 0)
	p, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: true})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Send(testContext(t), danube.Message{}); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Send after client Close = %v, want ErrClosed", err)
	}
	if _, err := cons.Receive(testContext(t)); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Receive after client Close = %v, want ErrClosed", err)
	}
}

func TestConformanceManySendersOneProducer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true, MaxInFlight: 16})

	const senders, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := p.Send(testContext(t), danube.Message{Payload: fmt.Appendf(nil, "%d-%d", s, i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Asynchronous sends share the in-flight bound with Send.
	var async sync.WaitGroup
	for i := range each {
		async.Add(1)
		p.SendAsync(testContext(t), danube.Message{Payload: fmt.Appendf(nil, "async-%d", i)}, func(err error) {
			if err != nil {
				errs <- err
			}
			async.Done()
		})
	}
	wg.Wait()
	if err := p.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	async.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send failed: %v", err)
	}

	seen := map[string]bool{}
	var offsets []int
	for range senders*each + each {
		m := receive(t, cons)
		seen[string(m.Payload)] = true
		offsets = append(offsets, int(m.ID.Offset))
		cons.AckAsync(m, nil)
	}
	if len(seen) != senders*each+each {
		t.Fatalf("received %d distinct payloads, want %d", len(seen), senders*each+each)
	}
	sort.Ints(offsets)
	for i, off := range offsets {
		if off != i {
			t.Fatalf("offsets %v are not 0..%d", offsets, len(offsets)-1)
		}
	}
}

// A burst published to a subscription whose consumer works slower than
// the producer must reach it whole: reliable dispatch promises every
// message, whatever the lag. Broker v0.15.1 fails this test: a new
// subscription reads the newest messages through a buffer of 256 and
// skips what overflowed it, so the consumer stops before the last message.
func TestConformanceBurstReachesNewSubscriptionWhole(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	var skipped atomic.Uint64
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Type: danube.Exclusive,
		OnGap: func(_ string, first, last uint64) { skipped.Add(last - first + 1) }})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	const n = 1000
	for i := range n {
		p.SendAsync(testContext(t), danube.Message{Payload: []byte(strconv.Itoa(i))}, nil)
	}
	if err := p.Flush(testContext(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	seen := make(map[uint64]bool, n)
	for len(seen) < n {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		m, err := cons.Receive(ctx)
		cancel()
		if err != nil {
			t.Fatalf("received %d of %d distinct messages (the consumer saw the broker skip %d offsets), then: %v",
				len(seen), n, skipped.Load(), err)
		}
		seen[m.ID.Offset] = true
		ack(t, cons, m)
	}
	for off := range uint64(n) {
		if !seen[off] {
			t.Fatalf("offset %d never delivered although %d distinct offsets were", off, len(seen))
		}
	}
}
