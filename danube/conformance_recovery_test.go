package danube_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// fastClock returns a fake clock for the client that runs far faster than
// real time, so that backoff waits and health checks happen at once.
func fastClock(t *testing.T) *clock.Fake {
	clk := clock.NewFake(time.Time{})
	accelerate(t, clk, 50*time.Millisecond)
	return clk
}

func TestRecoverySendRetriesTransientCodes(t *testing.T) {
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			e := newEnv(t)
			b := e.needBroker(t, "fault injection")
			c := e.client(t, danube.WithClock(fastClock(t)))
			name := topic(t)
			p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

			b.FailNext("SendMessage", 3, code)
			send(t, p, "after three failures")
			if got := len(b.Messages(name)); got != 1 {
				t.Fatalf("broker stored %d messages, want 1", got)
			}
		})
	}
}

func TestRecoveryCreateRetriesUnavailable(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))

	// In a cluster the broker replies UNAVAILABLE to the first create of a
	// new topic while it assigns the topic.
	b.FailNext("CreateProducer", 2, codes.Unavailable)
	newProducer(t, c, danube.ProducerOptions{Topic: topic(t)})
}

func TestRecoverySchemaResolutionRetriesUnavailable(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))
	subject := topicStem(t)
	v1, v2 := registerOrderSchemas(t, c.Schemas(), subject)

	// The latest version, then a pinned older one: each lookup fails
	// twice before it succeeds.
	b.FailNext("GetLatestSchema", 2, codes.Unavailable)
	newProducer(t, c, danube.ProducerOptions{Topic: topic(t), Schema: &danube.SchemaReference{Subject: subject}})

	if v2.Version <= v1.Version {
		t.Fatalf("registered versions %d then %d, want the second newer", v1.Version, v2.Version)
	}
	// A new client, whose cache is empty, has to fetch the pinned version.
	pinned := e.client(t, danube.WithClock(fastClock(t)))
	b.FailNext("GetLatestSchema", 1, codes.Unavailable)
	b.FailNext("GetSchema", 2, codes.Unavailable)
	newProducer(t, pinned, danube.ProducerOptions{Topic: topic(t), Schema: &danube.SchemaReference{Subject: subject, PinnedVersion: v1.Version}})

	// Both injected GetSchema failures were used up by the producer: a
	// single call from a third client, which does not retry, succeeds.
	if _, err := e.client(t).Schemas().GetSchema(testContext(t), v1.ID, v1.Version); err != nil {
		t.Fatalf("GetSchema after the producer's retries = %v, want the failures used up", err)
	}
}

func TestRecoverySendAfterTopicUnloaded(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "before")

	// The unload drops the producer, so the next send gets NOT_FOUND
	// (unless the health check recreated the producer first) and must
	// recover.
	if err := b.UnloadTopic(name); err != nil {
		t.Fatal(err)
	}
	send(t, p, "after")

	msgs := b.Messages(name)
	if len(msgs) != 2 || string(msgs[1].Payload) != "after" {
		t.Fatalf("broker stored %d messages, want before and after", len(msgs))
	}
	if msgs[0].ProducerID == msgs[1].ProducerID {
		t.Fatalf("both messages carry producer id %d, want a recreated producer", msgs[0].ProducerID)
	}
}

func TestRecoveryHealthCloseRecreatesProducer(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	clk := clock.NewFake(time.Time{})
	c := e.client(t, danube.WithClock(clk))
	name := topic(t)
	newProducer(t, c, danube.ProducerOptions{Topic: name, Name: "p1"})
	before := b.Producers(name)
	if len(before) != 1 || before[0].Name != "p1" {
		t.Fatalf("producers before the unload: %+v, want p1", before)
	}

	if err := b.UnloadTopic(name); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntil(testContext(t), 1); err != nil { // the health ticker
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)

	// Without any send, the health check's CLOSE makes the producer come
	// back under its name with a new id.
	eventually(t, "the producer is recreated", func() bool {
		after := b.Producers(name)
		return len(after) == 1 && after[0].Name == "p1" && after[0].ID != before[0].ID
	})
}

func TestRecoverySendWhileTopicDrains(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	clk := clock.NewFake(time.Time{})
	c := e.client(t, danube.WithClock(clk))
	name := topic(t)
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	if err := b.DrainTopic(name); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Send(testContext(t), danube.Message{Payload: []byte("x")}) }()

	// The draining topic refuses the send with PERMISSION_DENIED even after
	// the producer is recreated, so the send backs off: one timer besides
	// the health ticker. The unload then completes the move.
	if err := clk.BlockUntil(testContext(t), 2); err != nil {
		t.Fatal(err)
	}
	if err := b.UnloadTopic(name); err != nil {
		t.Fatal(err)
	}
	accelerate(t, clk, 50*time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Send across a drain and unload = %v, want success", err)
	}
	if got := len(b.Messages(name)); got != 1 {
		t.Fatalf("broker stored %d messages, want 1", got)
	}
}

// drainedSend starts one Send on a drained topic, with a context of one
// minute of real time (50 minutes of client time), and returns the topic,
// the send's outcome and when it ended in client time.
func drainedSend(t *testing.T, opts danube.ProducerOptions) (b *danubetest.Broker, name string, clk *clock.Fake, start time.Time, done <-chan error, endedAt *time.Duration) {
	t.Helper()
	e := newEnv(t)
	b = e.needBroker(t, "fault injection")
	clk = clock.NewFake(time.Time{})
	c := e.client(t, danube.WithClock(clk)) // default backoff: 200 ms, ×2, up to 5 s
	opts.Topic, opts.Reliable = topic(t), true
	p := newProducer(t, c, opts)
	if err := b.DrainTopic(opts.Topic); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	start = clk.Now()
	out := make(chan error, 1)
	endedAt = new(time.Duration)
	go func() {
		err := p.Send(ctx, danube.Message{Payload: []byte("x")})
		*endedAt = clk.Since(start)
		out <- err
	}()
	accelerate(t, clk, 5*time.Millisecond) // 50 times real time
	return b, opts.Topic, clk, start, out, endedAt
}

func TestRecoverySendOutlastsDrainWithinRecoveryTimeout(t *testing.T) {
	b, name, clk, start, done, endedAt := drainedSend(t, danube.ProducerOptions{})
	// The topic drains for 10 s of client time, a third of the default
	// RecoveryTimeout, then the unload completes.
	for clk.Since(start) < 10*time.Second {
		select {
		case err := <-done:
			t.Fatalf("Send gave up %v into the drain: %v", *endedAt, err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := b.UnloadTopic(name); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Send across a 10 s drain = %v, want success", err)
	}
	if got := len(b.Messages(name)); got != 1 {
		t.Fatalf("broker stored %d messages, want 1", got)
	}
}

func TestRecoverySendGivesUpAfterRecoveryTimeout(t *testing.T) {
	const budget = 3 * time.Second
	_, _, _, _, done, endedAt := drainedSend(t, danube.ProducerOptions{RecoveryTimeout: budget})
	err := <-done
	if !errors.Is(err, danube.ErrPermissionDenied) {
		t.Fatalf("Send on a topic that never stops draining = %v, want ErrPermissionDenied", err)
	}
	if *endedAt < budget {
		t.Fatalf("Send gave up %v after the first rejection, before its RecoveryTimeout of %v", *endedAt, budget)
	}
}

func TestRecoveryHealthCloseResubscribesConsumer(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "one")
	ack(t, cons, receive(t, cons))

	if err := b.UnloadTopic(name); err != nil {
		t.Fatal(err)
	}
	send(t, p, "two")
	m := receive(t, cons)
	if string(m.Payload) != "two" {
		t.Fatalf("after the unload got %q, want two", m.Payload)
	}
	ack(t, cons, m)

	eventually(t, "one active consumer named c1", func() bool {
		cs := b.Consumers(name)["sub"]
		return len(cs) == 1 && cs[0].Name == "c1" && cs[0].Active
	})
}

func TestRecoveryStreamDropRedeliversUnacked(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "c1", Type: danube.Exclusive})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "unacked")

	first := receive(t, cons)
	b.DropReceiveStreams()
	again := receive(t, cons)

	if again.ID != first.ID {
		t.Fatalf("after the drop got %+v, want the unacked %+v", again.ID, first.ID)
	}
	if again.DeliveryAttempt != 2 {
		t.Fatalf("delivery attempt %d, want 2", again.DeliveryAttempt)
	}
	ack(t, cons, again)
	cs := b.Consumers(name)["sub"]
	if len(cs) != 1 || cs[0].Name != "c1" {
		t.Fatalf("consumers %+v, want c1 alone: the reconnect takes over under the same name", cs)
	}
}

func TestRecoveryTopicMovesToAnotherBroker(t *testing.T) {
	if realBroker() {
		t.Skipf("needs danubetest (a two-broker cluster with MoveTopic): runs only without %s", envURL)
	}
	brokers := danubetest.StartCluster(t, 2)
	b0, b1 := brokers[0], brokers[1]
	c, err := danube.NewClient(b0.URL(), danube.WithClock(fastClock(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	name := topic(t)
	if err := b0.CreateTopic(name, true); err != nil {
		t.Fatal(err)
	}
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "on b0")
	ack(t, cons, receive(t, cons))

	if err := b0.MoveTopic(name, b1); err != nil {
		t.Fatal(err)
	}
	send(t, p, "on b1")
	m := receive(t, cons)
	if string(m.Payload) != "on b1" {
		t.Fatalf("after the move got %q, want \"on b1\"", m.Payload)
	}
	if m.ID.Offset != 1 {
		t.Fatalf("offset %d after the move, want 1: the topic keeps its log", m.ID.Offset)
	}
	ack(t, cons, m)

	if cs := b1.Consumers(name)["sub"]; len(cs) != 1 || cs[0].Name != "c1" {
		t.Fatalf("consumers on the new owner: %+v, want c1", cs)
	}
	eventually(t, "the ack reached the new owner", func() bool {
		st, ok := b1.Subscription(name, "sub")
		return ok && st.Cursor == 1
	})
}

func TestRecoveryBrokerRestart(t *testing.T) {
	brokerClock := clock.NewFake(time.Time{})
	e := newEnv(t, danubetest.WithClock(brokerClock))
	b := e.needBroker(t, "stopping and restarting the broker")
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "before")
	m := receive(t, cons)

	// The broker persists a cursor when it moves at least 10 s after the
	// last persist, and a restart resumes after the persisted cursor.
	// Without one, the subscription would restart at the latest message and
	// miss what is sent meanwhile.
	brokerClock.Advance(11 * time.Second)
	ack(t, cons, m)
	eventually(t, "the cursor is persisted", func() bool {
		st, ok := b.Subscription(name, "sub")
		return ok && st.PersistedCursor == 0
	})

	b.Stop()
	sent := make(chan error, 1)
	p.SendAsync(testContext(t), danube.Message{Payload: []byte("during")}, func(err error) { sent <- err })
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send across a restart: %v", err)
	}

	m = receive(t, cons)
	if string(m.Payload) != "during" {
		t.Fatalf("after the restart got %q, want \"during\"", m.Payload)
	}
	ack(t, cons, m)
}

func TestRecoveryNonRetryableFailureReported(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "fault injection")
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "opens the stream")
	ack(t, cons, receive(t, cons))

	b.FailNext("Subscribe", 1000, codes.PermissionDenied)
	defer b.FailNext("Subscribe", 0, codes.PermissionDenied)
	b.DropReceiveStreams()

	_, err := cons.Receive(testContext(t))
	if !errors.Is(err, danube.ErrPermissionDenied) {
		t.Fatalf("Receive = %v, want the partition's ErrPermissionDenied", err)
	}
	var de *danube.Error
	if !errors.As(err, &de) || de.Topic != name || de.Op != "subscribe" {
		t.Fatalf("error %#v does not name the subscribe of %s", err, name)
	}

	// The failure is reported once; the consumer stays usable.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cons.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Receive = %v, want a timeout", err)
	}
}

func TestRecoveryCallDeadlineBoundsEachAttempt(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "delaying responses")
	c := e.client(t, danube.WithCallTimeout(30*time.Millisecond), danube.WithClock(fastClock(t)))
	name := topic(t)
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	b.Delay("SendMessage", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := p.Send(ctx, danube.Message{Payload: []byte("slow")})
	b.Delay("SendMessage", 0)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the caller's deadline after timed-out attempts", err)
	}
	// Each attempt reached the broker before its deadline: a retry after an
	// ambiguous timeout stores the message again, as documented.
	if got := len(b.Messages(name)); got < 2 {
		t.Fatalf("broker stored %d copies, want one per attempt (at least 2)", got)
	}
}

func TestRecoveryAcksDoNotBlockReceive(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "delaying responses")
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", AckConcurrency: 2})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	for range 8 {
		send(t, p, "m")
	}

	b.Delay("Ack", time.Hour)
	acked := make(chan error, 2)
	for range 2 {
		m := receive(t, cons)
		cons.AckAsync(m, func(err error) { acked <- err })
	}
	// Both ack slots hang on the broker; receiving goes on regardless.
	for range 6 {
		receive(t, cons)
	}
	b.Delay("Ack", 0)
	select {
	case err := <-acked:
		t.Fatalf("an ack completed while the broker held it: %v", err)
	default:
	}
	// Close waits for the hanging acks, which end at their call deadline;
	// shorten the test by closing the broker side first.
	b.Stop()
	for range 2 {
		if err := <-acked; err == nil {
			t.Fatal("an ack held by a stopped broker succeeded")
		}
	}
}

func TestRecoveryJWTAuthentication(t *testing.T) {
	secret := []byte("conformance-secret")
	e := newEnv(t, danubetest.WithJWTSecret(secret))
	e.needBroker(t, "a broker with a known JWT secret")
	name := topic(t)

	anonymous := e.client(t)
	_, err := anonymous.NewProducer(testContext(t), danube.ProducerOptions{Topic: name})
	if !errors.Is(err, danube.ErrUnauthenticated) {
		t.Fatalf("NewProducer without a token = %v, want ErrUnauthenticated", err)
	}

	token := danubetest.Token(secret, "alice", time.Now().Add(time.Hour))
	static := e.client(t, danube.WithToken(token), danube.WithInsecure())
	p := newProducer(t, static, danube.ProducerOptions{Topic: name})
	send(t, p, "with a static token")

	var calls atomic.Int32
	rotating := e.client(t, danube.WithInsecure(), danube.WithTokenSupplier(func(context.Context) (string, error) {
		calls.Add(1)
		return danubetest.Token(secret, "bob", time.Now().Add(time.Hour)), nil
	}))
	cons := newConsumer(t, rotating, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	send(t, p, "to a consumer with rotating tokens")
	ack(t, cons, receive(t, cons))
	if calls.Load() == 0 {
		t.Fatal("the token supplier was never called")
	}
}
