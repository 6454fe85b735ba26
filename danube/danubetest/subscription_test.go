package danubetest_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

func sendKeyed(t *testing.T, c *client, pid uint64, topic, payload, key, producerName string) {
	t.Helper()
	m := message(pid, topic, payload)
	m.ProducerName = producerName
	if key != "" {
		m.RoutingKey = &key
	}
	if _, err := c.producer.SendMessage(ctxT(t), m); err != nil {
		t.Fatalf("send %q: %v", payload, err)
	}
}

func TestNonReliableDropsWhenConsumerBufferIsFull(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	const topic = "/default/live"
	pid := c.createProducer(t, topic, "p", false)
	cid := c.subscribe(t, topic, "sub", "c", exclusive) // no stream: nothing drains the buffer
	c.send(t, pid, topic, payloads(10)...)

	s := c.receive(t, cid)
	for i := 0; i < 4; i++ {
		if got := string(s.next(t).GetPayload()); got != payloads(4)[i] {
			t.Fatalf("message %d = %q, want %q", i, got, payloads(4)[i])
		}
	}
	s.expectNone(t, 50*time.Millisecond)
	if n := len(b.Messages(topic)); n != 10 {
		t.Fatalf("%d messages recorded, want 10", n)
	}
}

func TestNonReliableAckAndNackAreNoOps(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	const topic = "/default/live"
	pid := c.createProducer(t, topic, "p", false)
	cid := c.subscribe(t, topic, "sub", "c", shared)
	s := c.receive(t, cid)
	c.send(t, pid, topic, "a")
	m := s.next(t)
	c.nack(t, m, "sub", u64(0), nil)
	c.ack(t, m, "sub")
	s.expectNone(t, 50*time.Millisecond)
	if st, ok := b.Subscription(topic, "sub"); !ok || len(st.Pending) != 0 {
		t.Fatalf("subscription state %+v, %v: want no pending entries", st, ok)
	}
}

func TestIdleNonReliableSubscriptionIsReapedAfter60s(t *testing.T) {
	f := newFixture(t)
	const topic = "/default/live"
	pid := f.c.createProducer(t, topic, "p", false)
	cid := f.c.subscribe(t, topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, pid, topic, "hello")
	s.next(t) // the stream is attached on the broker
	s.close()
	eventually(t, "consumer inactive", func() bool {
		return f.c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid) == danubepb.HealthCheckResponse_CLOSE
	})
	f.c.send(t, pid, topic, "nobody listens") // marks the subscription idle

	f.clk.Advance(30 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if _, ok := f.b.Subscription(topic, "sub"); !ok {
		t.Fatalf("subscription reaped after 30s, want it kept for 60s")
	}
	f.clk.Advance(30 * time.Second)
	f.clk.Advance(30 * time.Second)
	eventually(t, "subscription reaped", func() bool {
		_, ok := f.b.Subscription(topic, "sub")
		return !ok
	})
	_, err := f.c.consumer.ReceiveMessages(ctxT(t), &danubepb.ReceiveRequest{ConsumerId: cid})
	if err == nil {
		rs, _ := f.c.consumer.ReceiveMessages(ctxT(t), &danubepb.ReceiveRequest{ConsumerId: cid})
		_, err = rs.Recv()
	}
	wantCode(t, err, codes.NotFound)
}

func TestExclusiveSubscriptionRejectsSecondConsumerName(t *testing.T) {
	f := newFixture(t)
	first := f.c.subscribe(t, f.topic, "sub", "c1", exclusive)
	_, err := f.c.trySubscribe(t, f.topic, "sub", "c2", exclusive)
	wantCode(t, err, codes.PermissionDenied)

	// Even after the first consumer's stream is gone, only its name may
	// come back.
	s := f.c.receive(t, first)
	s.close()
	_, err = f.c.trySubscribe(t, f.topic, "sub", "c2", shared)
	wantCode(t, err, codes.PermissionDenied)
	if again := f.c.subscribe(t, f.topic, "sub", "c1", exclusive); again != first {
		t.Fatalf("same name got consumer %d, want %d", again, first)
	}
}

func TestSharedSubscriptionDispatchesRoundRobin(t *testing.T) {
	f := newFixture(t)
	a := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "a", shared))
	b := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "b", shared))
	f.c.send(t, f.pid, f.topic, payloads(6)...)

	got := map[string][]uint64{}
	for i := 0; i < 3; i++ {
		got["a"] = append(got["a"], a.next(t).GetMsgId().GetTopicOffset())
		got["b"] = append(got["b"], b.next(t).GetMsgId().GetTopicOffset())
	}
	for name, offsets := range got {
		for i := 1; i < len(offsets); i++ {
			if offsets[i]-offsets[i-1] != 2 {
				t.Fatalf("consumer %s got offsets %v, want every second offset", name, offsets)
			}
		}
	}
	consumers := f.b.Consumers(f.topic)["sub"]
	if len(consumers) != 2 || consumers[0].Name != "a" || consumers[1].Name != "b" || !consumers[0].Active || !consumers[1].Active {
		t.Fatalf("consumers = %+v, want active a and b", consumers)
	}
}

func TestSharedDisconnectMovesMessagesToOtherConsumer(t *testing.T) {
	f := newFixture(t)
	a := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "a", shared))
	b := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "b", shared))
	f.c.send(t, f.pid, f.topic, "0", "1")
	first := a.next(t)
	b.next(t)
	a.close()

	m := b.next(t)
	if m.GetMsgId().GetTopicOffset() != first.GetMsgId().GetTopicOffset() {
		t.Fatalf("b got offset %d, want a's offset %d", m.GetMsgId().GetTopicOffset(), first.GetMsgId().GetTopicOffset())
	}
}

func TestFailoverFirstConsumerIsActiveAndStandbyDoesNotTakeOver(t *testing.T) {
	f := newFixture(t)
	primary := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "primary", failover))
	standby := f.c.receive(t, f.c.subscribe(t, f.topic, "sub", "standby", failover))
	f.c.send(t, f.pid, f.topic, "a", "b")
	primary.next(t)
	primary.next(t)
	standby.expectNone(t, 20*time.Millisecond)

	primary.close()
	f.state(t, "sub", "primary inactive", func(st danubetest.SubscriptionState) bool {
		return !st.Consumers[0].Active
	})
	f.c.send(t, f.pid, f.topic, "c")
	f.advance(2 * time.Second)
	standby.expectNone(t, 50*time.Millisecond)
}

func TestKeySharedRoutesEachKeyToOneConsumer(t *testing.T) {
	f := newFixture(t, danubetest.WithWindow(1000))
	ca := f.c.subscribe(t, f.topic, "sub", "a", keyShared)
	cb := f.c.subscribe(t, f.topic, "sub", "b", keyShared)
	a, b := f.c.receive(t, ca), f.c.receive(t, cb)
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	for i := 0; i < 4; i++ {
		for _, k := range keys {
			sendKeyed(t, f.c, f.pid, f.topic, k, k, "p")
		}
	}

	owner := map[string]string{}
	seen := 0
	collect := func(name string, s *stream) {
		for {
			select {
			case m := <-s.msgs:
				k := m.GetRoutingKey()
				if prev, ok := owner[k]; ok && prev != name {
					t.Fatalf("key %s went to %s and %s", k, prev, name)
				}
				owner[k] = name
				seen++
				f.c.ack(t, m, "sub")
			case <-time.After(100 * time.Millisecond):
				return
			}
		}
	}
	for seen < 32 {
		before := seen
		collect("a", a)
		collect("b", b)
		if seen == before {
			t.Fatalf("stuck after %d of 32 messages", seen)
		}
	}
	if len(owner) != len(keys) {
		t.Fatalf("%d keys delivered, want %d", len(owner), len(keys))
	}
}

func TestKeySharedUsesProducerNameWithoutRoutingKey(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "a", keyShared)
	if _, err := f.c.trySubscribe(t, f.topic, "sub", "z", keyShared, "nothing-matches"); err != nil {
		t.Fatal(err)
	}

	s := f.c.receive(t, cid)
	sendKeyed(t, f.c, f.pid, f.topic, "first", "", "producer-x")
	sendKeyed(t, f.c, f.pid, f.topic, "second", "", "producer-x")
	first := s.next(t)
	// The second message has the same effective key, so it waits for the
	// first one's ack.
	st := f.state(t, "sub", "second message blocked on its key", pendingWith("key_blocked", 1))
	if st.Pending[1].Offset != 1 {
		t.Fatalf("blocked offset %d, want 1", st.Pending[1].Offset)
	}
	f.c.ack(t, first, "sub")
	if got := string(s.next(t).GetPayload()); got != "second" {
		t.Fatalf("got %q, want \"second\"", got)
	}
}

func TestKeySharedFiltersSelectConsumersAndSkipUnmatchedKeys(t *testing.T) {
	f := newFixture(t)
	eu, err := f.c.trySubscribe(t, f.topic, "sub", "eu", keyShared, "eu-*")
	if err != nil {
		t.Fatal(err)
	}
	us, err := f.c.trySubscribe(t, f.topic, "sub", "us", keyShared, "us-?")
	if err != nil {
		t.Fatal(err)
	}
	seu, sus := f.c.receive(t, eu), f.c.receive(t, us)
	sendKeyed(t, f.c, f.pid, f.topic, "0", "eu-west-1", "p")
	sendKeyed(t, f.c, f.pid, f.topic, "1", "us-1", "p")
	sendKeyed(t, f.c, f.pid, f.topic, "2", "us-12", "p") // no consumer accepts it

	if got := seu.next(t).GetRoutingKey(); got != "eu-west-1" {
		t.Fatalf("eu consumer got key %q", got)
	}
	if got := sus.next(t).GetRoutingKey(); got != "us-1" {
		t.Fatalf("us consumer got key %q", got)
	}
	seu.expectNone(t, 20*time.Millisecond)
	sus.expectNone(t, 20*time.Millisecond)
	st, _ := f.b.Subscription(f.topic, "sub")
	for _, p := range st.Pending {
		if p.Offset == 2 {
			t.Fatalf("unmatched key still pending: %+v", p)
		}
	}
}

func TestKeySharedKeepsPerKeyOrderInWindow(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "a", keyShared)
	s := f.c.receive(t, cid)
	sendKeyed(t, f.c, f.pid, f.topic, "k-1", "k", "p")
	sendKeyed(t, f.c, f.pid, f.topic, "k-2", "k", "p")
	sendKeyed(t, f.c, f.pid, f.topic, "j-1", "j", "p")

	if got := string(s.next(t).GetPayload()); got != "k-1" {
		t.Fatalf("first = %q, want k-1", got)
	}
	if got := string(s.next(t).GetPayload()); got != "j-1" {
		t.Fatalf("second = %q, want j-1 while k-2 waits for k-1", got)
	}
	s.expectNone(t, 20*time.Millisecond)
}

func TestFirstSubscribeFixesSubscriptionType(t *testing.T) {
	f := newFixture(t)
	// A policy stored before any consumer does not fix the type.
	f.setPolicy(t, "sub", defaultPolicyProto())
	f.c.subscribe(t, f.topic, "sub", "a", shared)
	f.c.subscribe(t, f.topic, "sub", "b", exclusive) // accepted: the subscription is Shared
	st, _ := f.b.Subscription(f.topic, "sub")
	if st.Type != danubetest.Shared || len(st.Consumers) != 2 {
		t.Fatalf("type %v with %d consumers, want Shared with 2", st.Type, len(st.Consumers))
	}
}
