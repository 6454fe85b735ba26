package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestWindowOfTenDoesNotStallBigBatches(t *testing.T) {
	e := newEnv(t) // the broker's default window: 10 unacked messages
	e.subscribe(testTopic, testSub, 3)

	// The runtime's clock never moves: the batch timeout (1 s) never
	// passes, so only the idle flush can write the batches.
	clk := newFakeClock()
	conn := newTestConn()
	cfg := e.config(testTopic, testSub)
	cfg.BatchSize = 1000
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 100)

	conn.waitUntil(t, "all 100 records are written", func(c *testConn) bool { return c.distinct(testTopic) == 100 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := clk.Since(newFakeClock().Now()); got != 0 {
		t.Fatalf("the runtime's clock moved by %v", got)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	for i, b := range conn.batches {
		if len(b) > danubetest.DefaultWindow {
			t.Errorf("batch %d holds %d records, more than the window of %d", i, len(b), danubetest.DefaultWindow)
		}
	}
	if got := conn.writtenOffsetsLocked(testTopic); !slices.IsSorted(got) {
		t.Errorf("records written out of order: %v", got)
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}
}

func TestWindowOfThousandFlushesWithoutTimeout(t *testing.T) {
	e := newEnv(t, danubetest.WithWindow(1000))
	e.subscribe(testTopic, testSub, 3)

	// As with a window of ten, the runtime's clock never moves: a batch
	// that waited for BATCH_TIMEOUT_MS would never be written.
	clk := newFakeClock()
	conn := newTestConn()
	cfg := e.config(testTopic, testSub)
	cfg.BatchSize = 1000
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 1500)

	conn.waitUntil(t, "all 1500 records are written", func(c *testConn) bool { return c.distinct(testTopic) == 1500 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := clk.Since(newFakeClock().Now()); got != 0 {
		t.Fatalf("the runtime's clock moved by %v", got)
	}
	if got := conn.writtenOffsets(testTopic); !slices.IsSorted(got) {
		t.Errorf("records written out of order")
	}
	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != 1499 || len(st.Pending) != 0 {
		t.Errorf("cursor %d with %d pending, want 1499 and none", st.Cursor, len(st.Pending))
	}
}

func TestRoutesKeepTheirOwnOrder(t *testing.T) {
	topics := []string{"/default/orders", "/default/payments", "/default/refunds", "/default/audits"}
	e := newEnv(t)
	for _, topic := range topics {
		e.subscribe(topic, testSub, 3)
	}

	conn := newTestConn()
	conn.write = func(call int, batch []*Record) error {
		if call%5 == 0 {
			return Retryable(errors.New("hiccup")) // retries must not reorder a route
		}
		return nil
	}
	cfg := e.config("", testSub)
	cfg.DanubeTopic = nil
	cfg.BatchSize = 7
	cfg.Routes = []Route{
		{Topic: topics[0]},
		{Topic: topics[1], SubscriptionType: Failover},
		{Topic: topics[2], SubscriptionType: KeyShared, KeyFilters: []string{"key-*"}},
		{Topic: topics[3], SubscriptionType: Shared},
	}
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	const n = 60
	done := make(chan struct{})
	for _, topic := range topics {
		go func() {
			defer func() { done <- struct{}{} }()
			e.publish(topic, topic, n)
		}()
	}
	for range topics {
		<-done
	}

	conn.waitUntil(t, "every route's records are written", func(c *testConn) bool {
		for _, topic := range topics {
			if c.distinct(topic) != n {
				return false
			}
		}
		return true
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	conn.mu.Lock()
	defer conn.mu.Unlock()
	// A Shared subscription with one consumer delivers in order too.
	for _, topic := range []string{topics[0], topics[1], topics[3]} {
		got := conn.writtenOffsetsLocked(topic)
		if !slices.IsSorted(got) {
			t.Errorf("route %s wrote out of order: %v", topic, got)
		}
	}
	// Key-Shared keeps the order of each routing key, key-<offset mod 3>.
	byKey := make(map[uint64][]uint64)
	for _, o := range conn.writtenOffsetsLocked(topics[2]) {
		byKey[o%3] = append(byKey[o%3], o)
	}
	for key, got := range byKey {
		if !slices.IsSorted(got) {
			t.Errorf("route %s wrote key-%d out of order: %v", topics[2], key, got)
		}
	}
	for i, b := range conn.batches {
		for _, w := range b[1:] {
			if w.topic != b[0].topic {
				t.Fatalf("batch %d mixes routes %s and %s", i, b[0].topic, w.topic)
			}
		}
	}
	if conn.maxAct != 1 {
		t.Errorf("%d writes ran at once, want 1: the connector is not a ConcurrentWriter", conn.maxAct)
	}
}

// concurrentConn is a testConn that accepts concurrent writes.
type concurrentConn struct{ *testConn }

func (concurrentConn) ConcurrentWrites() bool { return true }

func TestConcurrentWriterWritesRoutesInParallel(t *testing.T) {
	topics := []string{"/default/a", "/default/b"}
	e := newEnv(t)
	for _, topic := range topics {
		e.subscribe(topic, testSub, 3)
	}

	// Each route's first write waits until the other route's first write
	// has started: only writes that run in parallel get past it.
	var started atomic.Int32
	release := make(chan struct{})
	conn := concurrentConn{newTestConn()}
	conn.write = func(call int, batch []*Record) error {
		if batch[0].Offset == 0 {
			if started.Add(1) == 2 {
				close(release)
			}
			select {
			case <-release:
			case <-time.After(waitLimit):
				return errors.New("the other route never wrote")
			}
		}
		return nil
	}
	cfg := e.config("", testSub)
	cfg.DanubeTopic = topics
	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	for _, topic := range topics {
		e.publish(topic, topic, 3)
	}
	conn.waitUntil(t, "every record is written", func(c *testConn) bool {
		return c.distinct(topics[0]) == 3 && c.distinct(topics[1]) == 3
	})
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if conn.maxAct < 2 {
		t.Errorf("at most %d writes ran at once, want 2", conn.maxAct)
	}
}

func TestStopWritesPartialBatch(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	// Hold the first write until the stop has begun, so that the records
	// that arrive meanwhile wait in a partial batch.
	clk := newFakeClock()
	conn := newTestConn()
	hold := make(chan struct{})
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			<-hold
		}
		return nil
	}
	cfg := e.config(testTopic, testSub)
	cfg.BatchSize = 1000
	cfg.BatchTimeout = time.Hour
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 5)
	conn.waitUntil(t, "the first write starts", func(c *testConn) bool { return c.calls == 1 })
	r.waitInFlight(t, 5)

	r.cancel()
	close(hold)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := conn.distinct(testTopic); got != 5 {
		t.Errorf("%d records written, want 5: the drain writes what it holds", got)
	}
	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != 4 || len(st.Pending) != 0 {
		t.Errorf("cursor %d, pending %+v; want 4 and none: every written record acked", st.Cursor, st.Pending)
	}
}

func TestForceNacksWhatIsNotWritten(t *testing.T) {
	brokerClk := newFakeClock()
	e := newEnv(t, danubetest.WithClock(brokerClk))
	e.subscribeWithDelay(testTopic, testSub, 3, time.Hour)

	conn := newTestConn()
	conn.write = func(_ int, _ []*Record) error {
		return Retryable(errors.New("never answers"))
	}
	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 100
	cfg.RetryBackoff = time.Hour // the retry waits on the runtime's fake clock
	cfg.MaxBackoff = time.Hour
	cfg.BatchTimeout = 2 * time.Hour    // so that the only timer within the hour is the retry's
	cfg.DrainTimeout = 1000 * time.Hour // only Force ends the stop
	clk := newFakeClock()
	t0 := clk.Now()
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	r.waitInFlight(t, 3)
	conn.waitUntil(t, "a write fails", func(c *testConn) bool { return c.calls >= 1 })

	// The stop begins, and the failed batch waits out its retry backoff,
	// which would end within the drain's graceful phase. The backoff is
	// an hour give or take its random jitter.
	r.cancel()
	waitForTimer(t, clk, t0, t0.Add(cfg.BatchTimeout))
	r.rt.Force()

	// The clock never moves: Force alone ends the wait and the stop.
	err := r.wait(t)
	if !errors.Is(err, ErrForced) {
		t.Fatalf("Run = %v, want ErrForced", err)
	}
	if moved := clk.Since(t0); moved != 0 {
		t.Errorf("the runtime's clock moved by %v", moved)
	}
	conn.mu.Lock()
	calls := conn.calls
	conn.mu.Unlock()
	if calls != 1 {
		t.Errorf("Write called %d times, want 1: a forced stop writes nothing more", calls)
	}
	pending := e.pending(testTopic, testSub)
	if len(pending) != 3 {
		t.Errorf("%d records pending at the broker, want 3", len(pending))
	}
	for _, p := range pending {
		if p.Status != "waiting_to_retry" || p.Reason == "" {
			t.Errorf("offset %d: status %s, reason %q; want it nacked", p.Offset, p.Status, p.Reason)
		}
	}
}

func TestForceWhileRunningStopsAtOnce(t *testing.T) {
	// The broker's clock never moves, so the nacked messages stay with the
	// broker: with no redelivery delay they would come back before the
	// consumer closed and be nacked a second time, counted twice.
	e := newEnv(t, danubetest.WithClock(newFakeClock()))
	e.subscribeWithDelay(testTopic, testSub, 3, time.Hour)

	conn := newTestConn()
	conn.write = func(_ int, _ []*Record) error {
		return Retryable(errors.New("never answers"))
	}
	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 100
	cfg.RetryBackoff = time.Hour
	cfg.MaxBackoff = time.Hour
	cfg.DrainTimeout = 1000 * time.Hour
	clk := newFakeClock()
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 2)
	r.waitInFlight(t, 2)
	conn.waitUntil(t, "a write fails", func(c *testConn) bool { return c.calls >= 1 })

	// Force without a stop first: Run ends as if the stop had been forced.
	r.rt.Force()
	err := r.wait(t)
	if !errors.Is(err, ErrForced) {
		t.Fatalf("Run = %v, want ErrForced", err)
	}
	st := r.rt.Stats()[0]
	if st.InFlight != 0 || st.Nacked != 2 || st.Acked != 0 {
		t.Errorf("stats %+v, want 2 nacked and nothing in flight", st.Stats)
	}
}

// waitForTimer waits until clk has a timer due after from and no later
// than to.
func waitForTimer(t *testing.T, clk *clock.Fake, from, to time.Time) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, d := range clk.Deadlines() {
			if d.After(from) && !d.After(to) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timer due between %v and %v; timers: %v", from, to, clk.Deadlines())
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

func TestRunRejectsSecondRun(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	r := start(t, newTestConn(), e.config(testTopic, testSub), Options{})
	r.waitReady(t)
	if err := r.rt.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
}

func TestRunAgainAfterStop(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	conn := newTestConn()
	rt, err := New(conn, e.config(testTopic, testSub), Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		r := &running{rt: rt, cancel: cancel, done: done}
		r.waitReady(t)
		e.publish(testTopic, fmt.Sprintf("round%d", round), 2)
		conn.waitUntil(t, "the round's records are written", func(c *testConn) bool { return c.distinct(testTopic) == 2*(round+1) })
		if err := r.stop(t); err != nil {
			t.Fatalf("round %d: Run: %v", round, err)
		}
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.opens != 2 || conn.closes != 2 {
		t.Errorf("Open called %d times and Close %d, want 2 and 2", conn.opens, conn.closes)
	}
}

func TestPolicyStoredThroughAdmin(t *testing.T) {
	e := newEnv(t)
	if err := e.admin.CreatePartitionedTopic(context.Background(), testTopic, 2, danube.TopicOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = "/default/orders-dlq"
	cfg.Policy = Policy{
		AdminURL:        e.broker.AdminURL(),
		MaxRedeliveries: 7,
		AckTimeout:      45 * time.Second,
		PoisonPolicy:    "dead_letter",
		DispatchWindow:  50,
	}
	r := start(t, newTestConn(), cfg, Options{})
	r.waitReady(t)

	for i := range 2 {
		part := danube.PartitionName(testTopic, i)
		fp, ok, err := e.admin.GetFailurePolicy(context.Background(), part, testSub)
		if err != nil || !ok {
			t.Fatalf("%s: GetFailurePolicy = %v, %v", part, ok, err)
		}
		if fp.MaxRedeliveryCount != 7 || fp.AckTimeout != 45*time.Second || fp.PoisonPolicy != danube.DeadLetter || fp.DeadLetterTopic != cfg.DeadLetterTopic {
			t.Errorf("%s: failure policy %+v, want 7 redeliveries, 45s, dead letter to %s", part, fp, cfg.DeadLetterTopic)
		}
		if fp.BaseRedeliveryDelay != brokerDefaultPolicy.BaseRedeliveryDelay {
			t.Errorf("%s: base redelivery delay %v, want the broker's default kept", part, fp.BaseRedeliveryDelay)
		}
		st, ok := e.broker.Subscription(part, testSub)
		if !ok || st.Window != 50 {
			t.Errorf("%s: subscription window %d, want 50", part, st.Window)
		}
	}
}
