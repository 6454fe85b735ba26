package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// dupAckTimeout is the ack timeout of the tests of duplicate deliveries,
// on the broker's fake clock. pastAckTimeout also covers the broker's
// watchdog period, 500 ms, which detects timed-out messages.
const (
	dupAckTimeout  = 30 * time.Second
	pastAckTimeout = dupAckTimeout + time.Second
)

// subscribeAckTimeout creates topic, reliable, with the given number of
// partitions (0 for none), and sets the failure policy of sub on every
// partition: an ack timeout of dupAckTimeout and no redelivery delay. It
// returns the partition topics.
func (e *env) subscribeAckTimeout(topic, sub string, partitions int) []string {
	e.t.Helper()
	ctx := context.Background()
	parts := []string{topic}
	var err error
	if partitions == 0 {
		err = e.admin.CreateTopic(ctx, topic, danube.TopicOptions{Reliable: true})
	} else {
		err = e.admin.CreatePartitionedTopic(ctx, topic, partitions, danube.TopicOptions{Reliable: true})
		parts = parts[:0]
		for i := range partitions {
			parts = append(parts, fmt.Sprintf("%s-part-%d", topic, i))
		}
	}
	if err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
	for _, part := range parts {
		err := e.admin.SetFailurePolicy(ctx, part, sub, danube.FailurePolicy{
			MaxRedeliveryCount: 5,
			AckTimeout:         dupAckTimeout,
			PoisonPolicy:       danube.Drop,
		})
		if err != nil {
			e.t.Fatalf("set failure policy of %s on %s: %v", sub, part, err)
		}
	}
	return parts
}

// waitNothingPending waits until sub on topic has no unacknowledged
// message and its cursor is at cursor.
func (e *env) waitNothingPending(topic, sub string, cursor int64) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st, ok := e.broker.Subscription(topic, sub)
		if ok && len(st.Pending) == 0 && st.Cursor == cursor {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("subscription %s on %s: pending %+v, cursor %d; want none pending, cursor %d", sub, topic, st.Pending, st.Cursor, cursor)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitCursor waits until the cursor of sub on topic is at cursor or
// beyond: the broker has the acks of every message up to it.
func (e *env) waitCursor(topic, sub string, cursor int64) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st, ok := e.broker.Subscription(topic, sub)
		if ok && st.Cursor >= cursor {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("subscription %s on %s: cursor %d, want %d", sub, topic, st.Cursor, cursor)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitAttempts waits until the broker has delivered the message at offset
// of topic to sub attempts times.
func (e *env) waitAttempts(topic, sub string, offset uint64, attempts uint32) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for e.broker.DeliveryCount(topic, sub, offset) < attempts {
		if time.Now().After(deadline) {
			e.t.Fatalf("offset %d of %s delivered %d times, want %d", offset, topic, e.broker.DeliveryCount(topic, sub, offset), attempts)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitDuplicates waits until the runtime's routes have dropped n
// redeliveries.
func (r *running) waitDuplicates(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var got int64
		for _, st := range r.rt.Stats() {
			got += st.Duplicates
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the routes dropped %d redeliveries, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// startHeldWrite runs a sink on testTopic whose second Write call, the
// one of offset 1, waits for release and then returns the error that
// result gives. Offset 0 is written and acked first, because the set of
// held messages does not follow offset 0 (see tracked). It returns once
// the write of offset 1 is held, with the route's current Source.
func startHeldWrite(t *testing.T, e *env, cfg Config, release <-chan struct{}, result func() error) (*running, *testConn, *Source) {
	t.Helper()
	conn := newTestConn()
	conn.write = func(call int, _ []*Record) error {
		if call != 2 {
			return nil
		}
		<-release
		return result()
	}
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 1)
	e.waitCursor(testTopic, testSub, 0) // the broker has the ack, so offset 0 cannot time out
	e.publish(testTopic, "m", 1)
	conn.waitUntil(t, "the write of offset 1 is held", func(c *testConn) bool { return c.calls == 2 && c.active == 1 })
	src := r.rt.routes[0].current()
	if src == nil {
		t.Fatal("the route has no Source while it runs")
	}
	return r, conn, src
}

func TestDuplicateDroppedWhileFirstHeld(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	e.subscribeAckTimeout(testTopic, testSub, 0)

	release := make(chan struct{})
	r, conn, src := startHeldWrite(t, e, e.config(testTopic, testSub), release, func() error { return nil })

	brokerClk.Advance(pastAckTimeout) // offset 1 times out and comes again
	e.waitAttempts(testTopic, testSub, 1, 2)
	r.waitDuplicates(t, 1)
	close(release)
	r.waitAcked(t, 2)
	e.waitNothingPending(testTopic, testSub, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.attempts(testTopic, 1); got != 1 {
		t.Errorf("offset 1 went to Write %d times, want 1: its redelivery must be dropped", got)
	}
	st := r.rt.Stats()[0]
	if st.Duplicates != 1 {
		t.Errorf("Stats().Duplicates = %d, want 1", st.Duplicates)
	}
	if st.Acked != 2 || st.Nacked != 0 || st.InFlight != 0 {
		t.Errorf("Stats() = %+v, want 2 acked, none nacked or in flight", st.Stats)
	}
	if n := src.held.len(); n != 0 {
		t.Errorf("the Source still holds %d messages after the run, want 0", n)
	}
}

func TestDuplicateThenFirstNacked(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	e.subscribeAckTimeout(testTopic, testSub, 0)

	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 0 // a failed write is nacked at once
	release := make(chan struct{})
	r, conn, src := startHeldWrite(t, e, cfg, release, func() error { return Retryable(errors.New("server busy")) })

	brokerClk.Advance(pastAckTimeout)
	e.waitAttempts(testTopic, testSub, 1, 2)
	r.waitDuplicates(t, 1)
	// The nack of the first delivery removes offset 1 from the held set,
	// so the broker's next delivery of it is written.
	close(release)
	conn.waitUntil(t, "offset 1 is written", func(c *testConn) bool { return len(c.writtenOffsetsLocked(testTopic)) == 2 })
	r.waitAcked(t, 2)
	e.waitNothingPending(testTopic, testSub, 1)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.attempts(testTopic, 1); got != 2 {
		t.Errorf("offset 1 went to Write %d times, want 2: the held delivery, then the one after its nack", got)
	}
	if got := e.broker.DeliveryCount(testTopic, testSub, 1); got != 3 {
		t.Errorf("broker delivered offset 1 %d times, want 3: first, after the ack timeout, after the nack", got)
	}
	st := r.rt.Stats()[0]
	if st.Duplicates != 1 {
		t.Errorf("Stats().Duplicates = %d, want 1", st.Duplicates)
	}
	if st.Nacked != 1 {
		t.Errorf("Stats().Nacked = %d, want 1", st.Nacked)
	}
	if n := src.held.len(); n != 0 {
		t.Errorf("the Source still holds %d messages after the run, want 0", n)
	}
}

// receiveN calls src.Receive until it returned n messages.
func receiveN(t *testing.T, src *Source, n int) []stage.Msg[*Record] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var out []stage.Msg[*Record]
	buf := make([]stage.Msg[*Record], 16)
	for len(out) < n {
		k, err := src.Receive(ctx, buf[:min(len(buf), n-len(out))])
		if err != nil {
			t.Fatalf("Receive after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

// newTestConsumer subscribes sub to topic as an exclusive consumer, closed
// at the end of the test.
func (e *env) newTestConsumer(topic, sub string) *danube.Consumer {
	e.t.Helper()
	cons, err := e.client.NewConsumer(context.Background(), danube.ConsumerOptions{
		Topic: topic, Subscription: sub, Name: testConsumer, Type: danube.Exclusive,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cons.Close() })
	for _, part := range cons.Partitions() {
		e.waitConsumer(part, sub)
	}
	return cons
}

// closeSource closes src and checks that it holds no message afterwards.
func closeSource(t *testing.T, src *Source) {
	t.Helper()
	if err := src.Close(context.Background()); err != nil {
		t.Fatalf("Source.Close: %v", err)
	}
	if n := src.held.len(); n != 0 {
		t.Errorf("the Source still holds %d messages after Close, want 0", n)
	}
}

func TestRedeliveryHeldByNoOneIsReceived(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	e.subscribeAckTimeout(testTopic, testSub, 0)
	cons := e.newTestConsumer(testTopic, testSub)
	e.publish(testTopic, "m", 2)

	// The consumer takes offset 1 outside the Source, as a consumer that
	// restarted would have, and leaves it to time out.
	ctx := context.Background()
	for range 2 {
		msg, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.ID.Offset == 0 {
			if err := cons.Ack(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	brokerClk.Advance(pastAckTimeout)

	src := NewSource(cons, SourceOptions{Logger: testLogger()})
	got := receiveN(t, src, 1)
	rec := got[0].Value
	if rec.Offset != 1 || rec.Attempt != 2 {
		t.Errorf("received offset %d attempt %d, want offset 1 attempt 2", rec.Offset, rec.Attempt)
	}
	if n := src.Duplicates(); n != 0 {
		t.Errorf("Duplicates() = %d, want 0: no one held the message", n)
	}
	got[0].Ack()
	closeSource(t, src)
	e.waitNothingPending(testTopic, testSub, 1)
}

func TestNonReliableTopicNotDeduplicated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const topic = "/default/events"
	if err := e.admin.CreateTopic(ctx, topic, danube.TopicOptions{}); err != nil {
		t.Fatal(err)
	}
	cons := e.newTestConsumer(topic, testSub)
	src := NewSource(cons, SourceOptions{Logger: testLogger()})

	p, err := e.client.NewProducer(ctx, danube.ProducerOptions{Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 5
	for i := range n {
		if err := p.Send(ctx, danube.Message{Payload: fmt.Appendf(nil, "e-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}

	got := receiveN(t, src, n) // every message is at offset 0, none held
	for i, m := range got {
		if m.Value.Offset != 0 {
			t.Errorf("message %d at offset %d, want 0 on a non-reliable topic", i, m.Value.Offset)
		}
		if want := fmt.Sprintf("e-%d", i); string(m.Value.Payload) != want {
			t.Errorf("message %d is %q, want %q", i, m.Value.Payload, want)
		}
	}
	if k := src.held.len(); k != 0 {
		t.Errorf("the Source holds %d messages of a non-reliable topic, want 0", k)
	}
	if k := src.Duplicates(); k != 0 {
		t.Errorf("Duplicates() = %d, want 0", k)
	}
	for _, m := range got {
		m.Ack()
	}
	closeSource(t, src)
}

func TestDuplicateKeysPerPartition(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	const topic = "/default/parted"
	parts := e.subscribeAckTimeout(topic, testSub, 2)
	cons := e.newTestConsumer(topic, testSub)
	src := NewSource(cons, SourceOptions{Logger: testLogger()})

	// Without a routing key the producer sends round robin: offsets 0, 1
	// and 2 on each partition.
	publishRoundRobin := func(n int) {
		t.Helper()
		ctx := context.Background()
		p, err := e.client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true, Partitions: len(parts)})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for i := range n {
			if err := p.Send(ctx, danube.Message{Payload: fmt.Appendf(nil, "p-%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishRoundRobin(6)

	held := map[heldKey]stage.Msg[*Record]{}
	for _, m := range receiveN(t, src, 6) {
		held[heldKey{m.Value.PartitionTopic, m.Value.Offset}] = m
	}
	for _, part := range parts {
		for off := range uint64(3) {
			if _, ok := held[heldKey{part, off}]; !ok {
				t.Fatalf("offset %d of %s not received; received %v", off, part, held)
			}
		}
		held[heldKey{part, 0}].Ack()
		delete(held, heldKey{part, 0})
	}
	for _, part := range parts {
		e.waitCursor(part, testSub, 0) // the broker has the ack, so offset 0 cannot time out
	}

	// Offset 1 of the second partition is nacked and comes back while
	// offset 1 of the first is still held: it must be received.
	held[heldKey{parts[1], 1}].Nack(0, "test")
	again := receiveN(t, src, 1)[0]
	if again.Value.PartitionTopic != parts[1] || again.Value.Offset != 1 {
		t.Fatalf("received offset %d of %s, want offset 1 of %s", again.Value.Offset, again.Value.PartitionTopic, parts[1])
	}
	held[heldKey{parts[1], 1}] = again

	// Every held message times out and comes again. Each redelivery is
	// dropped, and the messages published next are received.
	brokerClk.Advance(pastAckTimeout)
	for _, part := range parts {
		e.waitAttempts(part, testSub, 2, 2)
	}
	publishRoundRobin(2)
	next := receiveN(t, src, 2)
	for _, m := range next {
		if m.Value.Offset != 3 || m.Value.Attempt != 1 {
			t.Errorf("received offset %d attempt %d of %s, want offset 3 attempt 1", m.Value.Offset, m.Value.Attempt, m.Value.PartitionTopic)
		}
	}
	if got := src.Duplicates(); got != 4 {
		t.Errorf("Duplicates() = %d, want 4: offsets 1 and 2 of each partition", got)
	}

	for _, m := range held {
		m.Ack()
	}
	for _, m := range next {
		m.Ack()
	}
	closeSource(t, src)
	for _, part := range parts {
		e.waitNothingPending(part, testSub, 3)
	}
}

func TestDeadLetterReleasesHeldMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		withTopic bool
	}{
		{"published", true},
		{"nacked without topic", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, danubetest.WithClock(newFakeClock()))
			e.subscribeAckTimeout(testTopic, testSub, 0)
			cons := e.newTestConsumer(testTopic, testSub)
			opts := SourceOptions{Logger: testLogger()}
			if tc.withTopic {
				const dlqTopic = "/default/orders-dlq"
				dlq, err := e.client.NewProducer(context.Background(), danube.ProducerOptions{Topic: dlqTopic, Reliable: true})
				if err != nil {
					t.Fatal(err)
				}
				defer dlq.Close()
				opts.DeadLetter = dlq
			}
			src := NewSource(cons, opts)
			e.publish(testTopic, "m", 2)

			got := receiveN(t, src, 2)
			got[0].Ack()
			got[1].DeadLetter("invalid data")
			if tc.withTopic {
				e.waitNothingPending(testTopic, testSub, 1)
			} else {
				// The nack makes the broker deliver offset 1 again at once,
				// and that delivery must not be dropped.
				again := receiveN(t, src, 1)[0]
				if again.Value.Offset != 1 || again.Value.Attempt != 2 {
					t.Errorf("received offset %d attempt %d, want offset 1 attempt 2", again.Value.Offset, again.Value.Attempt)
				}
				again.Ack()
			}
			closeSource(t, src)
			e.waitNothingPending(testTopic, testSub, 1)
			if n := src.Duplicates(); n != 0 {
				t.Errorf("Duplicates() = %d, want 0", n)
			}
		})
	}
}
