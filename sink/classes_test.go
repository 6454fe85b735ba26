package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

const (
	testTopic = "/default/orders"
	testSub   = "orders-sink"
)

func TestRetryableRetriedThenNackedAndRedelivered(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	// Offset 1 fails on every write of its first delivery, and is written
	// on its second.
	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		var bad []uint64
		for _, r := range batch {
			if r.Offset == 1 && r.Attempt == 1 {
				bad = append(bad, 1)
			}
		}
		return failAt(batch, Retryable(errors.New("server busy")), bad...)
	}
	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 2
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "every record is written", func(c *testConn) bool { return len(c.ok) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.attempts(testTopic, 1); got != 4 {
		t.Errorf("offset 1 went to Write %d times, want 4: 3 attempts of its first delivery, 1 of its second", got)
	}
	for _, offset := range []uint64{0, 2} {
		if got := conn.attempts(testTopic, offset); got != 1 {
			t.Errorf("offset %d went to Write %d times, want 1: a retry must not write it again", offset, got)
		}
	}
	if got := e.broker.DeliveryCount(testTopic, testSub, 1); got != 2 {
		t.Errorf("broker delivered offset 1 %d times, want 2 (the nack redelivered it)", got)
	}
	if got := e.broker.DeliveryCount(testTopic, testSub, 0); got != 1 {
		t.Errorf("broker delivered offset 0 %d times, want 1", got)
	}
	conn.mu.Lock()
	var second []written
	for _, b := range conn.batches {
		for _, w := range b {
			if w.offset == 1 && w.attempt == 2 {
				second = append(second, w)
			}
		}
	}
	conn.mu.Unlock()
	if len(second) != 1 {
		t.Errorf("offset 1 was written %d times with Attempt 2, want 1", len(second))
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}
}

func TestUnclassifiedErrorIsRetried(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	conn.write = func(call int, batch []*Record) error {
		if batch[0].Attempt == 1 {
			return fmt.Errorf("write %d: connection reset", call) // unclassified: retryable
		}
		return nil
	}
	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 1
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 1)
	conn.waitUntil(t, "the redelivered record is written", func(c *testConn) bool { return len(c.ok) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := conn.attempts(testTopic, 0); got != 3 {
		t.Errorf("offset 0 went to Write %d times, want 3: 2 attempts, then 1 after the redelivery", got)
	}
}

func TestRetryBackoffWaitsOnClock(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	clk := newFakeClock()
	conn := newTestConn()
	waitersAtFailure := make(chan int, 1)
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			waitersAtFailure <- clk.Waiters()
			return Retryable(errors.New("throttled"))
		}
		return nil
	}
	cfg := e.config(testTopic, testSub)
	cfg.RetryBackoff = 100 * time.Millisecond
	cfg.MaxBackoff = 100 * time.Millisecond
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 1)

	var before int
	select {
	case before = <-waitersAtFailure:
	case <-time.After(waitLimit):
		t.Fatal("the first write did not come")
	}
	// The write stage now waits for its retry: one more timer.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := clk.BlockUntil(ctx, before+1); err != nil {
		t.Fatalf("no retry timer: %v", err)
	}
	clk.Advance(79 * time.Millisecond) // below the smallest wait, 100 ms less 20% jitter
	conn.mu.Lock()
	calls := conn.calls
	conn.mu.Unlock()
	if calls != 1 {
		t.Fatalf("Write called %d times before the backoff passed, want 1", calls)
	}
	clk.Advance(42 * time.Millisecond) // past the largest, 120 ms
	conn.waitUntil(t, "the retry is written", func(c *testConn) bool { return len(c.ok) == 1 })
}

func TestInvalidDataGoesToDeadLetterTopic(t *testing.T) {
	const dlq = "/default/orders-dlq"
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		return failAt(batch, InvalidData(errors.New("field total is not a number")), 1)
	}
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = dlq
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the valid records are written", func(c *testConn) bool { return len(c.ok) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.writtenOffsets(testTopic); !slices.Equal(got, []uint64{0, 2}) {
		t.Errorf("written offsets %v, want [0 2]", got)
	}
	if got := conn.attempts(testTopic, 1); got != 1 {
		t.Errorf("offset 1 went to Write %d times, want 1: invalid data is never retried", got)
	}
	if got := e.broker.DeliveryCount(testTopic, testSub, 1); got != 1 {
		t.Errorf("broker delivered offset 1 %d times, want 1: dead-lettered messages are acked", got)
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}

	dead := e.broker.Messages(dlq)
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic holds %d messages, want 1", len(dead))
	}
	msg := dead[0]
	if string(msg.Payload) != "m-1" {
		t.Errorf("dead letter payload %q, want m-1", msg.Payload)
	}
	if msg.RoutingKey != "key-1" {
		t.Errorf("dead letter routing key %q, want key-1", msg.RoutingKey)
	}
	want := map[string]string{
		"origin":                 "test",
		"index":                  "1",
		AttrOriginalTopic:        testTopic,
		AttrOriginalSubscription: testSub,
		AttrOriginalOffset:       "1",
		AttrDeliveryAttempt:      "1",
		AttrOriginalBaseTopic:    testTopic,
		AttrOriginalPartition:    "0",
		AttrConnector:            "test-sink",
	}
	for k, v := range want {
		if got := msg.Attributes[k]; got != v {
			t.Errorf("dead letter attribute %s = %q, want %q", k, got, v)
		}
	}
	if got := msg.Attributes[AttrFailureReason]; !strings.Contains(got, "field total is not a number") {
		t.Errorf("dead letter %s = %q, want the connector's error", AttrFailureReason, got)
	}
	if msg.Attributes[AttrOriginalProducer] == "" {
		t.Errorf("dead letter has no %s", AttrOriginalProducer)
	}
	if msg.Attributes[AttrOriginalPublishTime] == "" {
		t.Errorf("dead letter has no %s", AttrOriginalPublishTime)
	}
	// The broker's names for the same facts, so that one reader of the
	// dead-letter topic reads what the broker's poison policy writes too.
	for _, k := range []string{danubetest.AttrOriginalTopic, danubetest.AttrOriginalSubscription, danubetest.AttrOriginalTopicOffset, danubetest.AttrDeliveryAttempt, danubetest.AttrFailureReason} {
		if _, ok := msg.Attributes[k]; !ok {
			t.Errorf("dead letter lacks the broker's attribute %s", k)
		}
	}
}

func TestInvalidDataNackedWithoutDeadLetterTopic(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		var bad []uint64
		for _, r := range batch {
			if r.Offset == 0 && r.Attempt == 1 {
				bad = append(bad, 0)
			}
		}
		return failAt(batch, InvalidData(errors.New("not json")), bad...)
	}
	r := start(t, conn, e.config(testTopic, testSub), Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 2)
	conn.waitUntil(t, "both records are written", func(c *testConn) bool { return len(c.ok) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := e.broker.DeliveryCount(testTopic, testSub, 0); got != 2 {
		t.Errorf("broker delivered offset 0 %d times, want 2: invalid data is nacked without a dead-letter topic", got)
	}
	if got := conn.attempts(testTopic, 0); got != 2 {
		t.Errorf("offset 0 went to Write %d times, want 2, once per delivery", got)
	}
}

func TestFatalStopsPipelineAndNacks(t *testing.T) {
	// Nacked messages wait an hour on a clock that never moves, so the
	// broker's state shows every nack.
	e := newEnv(t, danubetest.WithClock(newFakeClock()))
	e.subscribeWithDelay(testTopic, testSub, 3, time.Hour)

	conn := newTestConn()
	errAuth := errors.New("authentication failed")
	conn.write = func(int, []*Record) error { return Fatal(errAuth) }
	// Intensity 0: the supervisor gives up at the first failure, so Run
	// returns it.
	r := start(t, conn, e.config(testTopic, testSub), Options{
		Supervisor: []supervisor.Option{supervisor.WithIntensity(0, time.Minute)},
	})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	err := r.wait(t)
	if !errors.Is(err, ErrFatal) || !errors.Is(err, errAuth) {
		t.Fatalf("Run = %v, want the fatal error", err)
	}
	if !errors.Is(err, supervisor.ErrIntensity) {
		t.Errorf("Run = %v, want it to wrap supervisor.ErrIntensity", err)
	}

	conn.mu.Lock()
	calls, opens, closes, ok := conn.calls, conn.opens, conn.closes, len(conn.ok)
	conn.mu.Unlock()
	if calls != 1 || ok != 0 {
		t.Errorf("Write called %d times with %d records written, want 1 call and nothing written", calls, ok)
	}
	if opens != 1 || closes != 1 {
		t.Errorf("Open called %d times and Close %d, want 1 and 1", opens, closes)
	}
	// Nothing is acked. The fatal write's records are nacked with its
	// error. Those received after it are nacked too, or redelivered by the
	// broker when the consumer closed.
	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != -1 {
		t.Errorf("subscription cursor %d, want -1: nothing acked", st.Cursor)
	}
	pending := make(map[uint64]danubetest.PendingEntry)
	for _, p := range st.Pending {
		pending[p.Offset] = p
	}
	conn.mu.Lock()
	first := conn.batches[0]
	conn.mu.Unlock()
	for _, w := range first {
		p, ok := pending[w.offset]
		if !ok || p.Status != "waiting_to_retry" || !strings.Contains(p.Reason, errAuth.Error()) {
			t.Errorf("offset %d: pending %v, status %s, reason %q; want it nacked with the fatal error", w.offset, ok, p.Status, p.Reason)
		}
	}
}

func TestFatalReopensConnector(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	e.subscribeWithDelay(testTopic, testSub, 3, time.Second)

	conn := newTestConn()
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			return Fatal(errors.New("collection dropped"))
		}
		return nil
	}
	r := start(t, conn, e.config(testTopic, testSub), Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the connector is open again", func(c *testConn) bool { return c.opens == 2 })
	r.waitReady(t)
	brokerClk.Advance(time.Second) // the nacked messages come back
	conn.waitUntil(t, "every record is written after the reopen", func(c *testConn) bool { return c.distinct(testTopic) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.opens != 2 || conn.closes != 2 {
		t.Errorf("Open called %d times and Close %d, want 2 and 2", conn.opens, conn.closes)
	}
	if len(conn.closedAt) == 0 || conn.closedAt[0] != 1 {
		t.Errorf("Close came after Write calls %v, want the first right after the fatal write", conn.closedAt)
	}
	// The fatal write's records were nacked, delivered again and written
	// once the connector was open again.
	for _, w := range conn.batches[0] {
		if got := e.broker.DeliveryCount(testTopic, testSub, w.offset); got < 2 {
			t.Errorf("broker delivered offset %d %d times, want it delivered again after the fatal write", w.offset, got)
		}
	}
}

func TestPanicInWriteNacksBatch(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			panic("connector bug")
		}
		return nil
	}
	r := start(t, conn, e.config(testTopic, testSub), Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 2)
	conn.waitUntil(t, "the records are written after the panic", func(c *testConn) bool { return len(c.ok) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	conn.mu.Lock()
	first := conn.batches[0]
	conn.mu.Unlock()
	for _, w := range first {
		if got := e.broker.DeliveryCount(testTopic, testSub, w.offset); got != 2 {
			t.Errorf("broker delivered offset %d %d times, want 2: nacked by the panic, then written", w.offset, got)
		}
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}
}

func TestDeadLetterPublishFailureNacks(t *testing.T) {
	const dlq = "/default/orders-dlq"
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	proceed := make(chan struct{})
	conn.write = func(_ int, batch []*Record) error {
		if batch[0].Attempt > 1 {
			return nil
		}
		<-proceed
		return InvalidData(errors.New("unreadable"))
	}
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = dlq
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	e.publish(testTopic, "m", 1)
	conn.waitUntil(t, "the first write starts", func(c *testConn) bool { return c.calls == 1 })

	// The dead-letter publish fails for good: the record must be nacked,
	// not acked, and come back.
	e.broker.FailNext("SendMessage", 1, codes.InvalidArgument)
	close(proceed)
	conn.waitUntil(t, "the redelivered record is written", func(c *testConn) bool { return len(c.ok) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := len(e.broker.Messages(dlq)); got != 0 {
		t.Errorf("dead-letter topic holds %d messages, want 0: its publish failed", got)
	}
	if got := e.broker.DeliveryCount(testTopic, testSub, 0); got != 2 {
		t.Errorf("broker delivered offset 0 %d times, want 2: nacked after the failed dead-letter publish", got)
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want the written record acked", p)
	}
}

func TestDeadLetterTopicMustBeReliable(t *testing.T) {
	const dlq = "/default/orders-dlq"
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	if err := e.admin.CreateTopic(context.Background(), dlq, danube.TopicOptions{Reliable: false}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = dlq
	r := start(t, newTestConn(), cfg, Options{})
	err := r.wait(t)
	if err == nil || !strings.Contains(err.Error(), dlq) {
		t.Errorf("Run = %v, want an error naming the dead-letter topic", err)
	}
}
