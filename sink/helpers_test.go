package sink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// waitLimit bounds every wait of a test for something asynchronous. It
// is real time, a guard against a hang rather than a timing under test.
const waitLimit = 20 * time.Second

// written is one record as the test connector saw it.
type written struct {
	topic   string
	offset  uint64
	attempt int
	payload string
}

// testConn is a scriptable Connector that records what it is asked.
type testConn struct {
	// write decides the outcome of each call, numbered from 1; nil writes
	// everything.
	write func(call int, batch []*Record) error
	// openErr, when set, is returned by Open.
	openErr func(call int) error
	health  error

	mu       sync.Mutex
	calls    int
	opens    int
	closes   int
	batches  [][]written // every batch given to Write
	ok       []written   // records reported written
	active   int         // Write calls in progress
	maxAct   int
	changed  chan struct{} // closed and replaced on every change
	closedAt []int         // calls counted when each Close came
}

func newTestConn() *testConn { return &testConn{changed: make(chan struct{})} }

func (c *testConn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *testConn) Open(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opens++
	defer c.notifyLocked()
	if c.openErr != nil {
		return c.openErr(c.opens)
	}
	return nil
}

func (c *testConn) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	c.closedAt = append(c.closedAt, c.calls)
	c.notifyLocked()
	return nil
}

func (c *testConn) Health(context.Context) error { return c.health }

func (c *testConn) Write(ctx context.Context, batch []*Record) error {
	recs := make([]written, len(batch))
	for i, r := range batch {
		recs[i] = written{topic: r.Topic, offset: r.Offset, attempt: r.Attempt, payload: string(r.Payload)}
	}
	c.mu.Lock()
	c.calls++
	call := c.calls
	c.batches = append(c.batches, recs)
	c.active++
	c.maxAct = max(c.maxAct, c.active)
	script := c.write
	c.notifyLocked()
	c.mu.Unlock()

	var err error
	if script != nil {
		err = script(call, batch)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.active--
	failed := map[int]bool{}
	if be, ok := err.(*BatchError); ok {
		for _, f := range be.Failures {
			failed[f.Index] = true
		}
	} else if err != nil {
		for i := range batch {
			failed[i] = true
		}
	}
	for i, r := range recs {
		if !failed[i] {
			c.ok = append(c.ok, r)
		}
	}
	c.notifyLocked()
	return err
}

// waitUntil waits until cond, evaluated under the connector's lock after
// every change, holds.
func (c *testConn) waitUntil(t *testing.T, what string, cond func(c *testConn) bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, changed := cond(c), c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// writtenOffsets returns the offsets of topic reported written, in order.
func (c *testConn) writtenOffsets(topic string) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writtenOffsetsLocked(topic)
}

func (c *testConn) writtenOffsetsLocked(topic string) []uint64 {
	var out []uint64
	for _, r := range c.ok {
		if r.topic == topic {
			out = append(out, r.offset)
		}
	}
	return out
}

// distinct returns how many distinct offsets of topic were reported
// written. The broker may deliver a record twice, so tests that wait for
// every record count offsets rather than writes.
func (c *testConn) distinct(topic string) int {
	seen := make(map[uint64]bool)
	for _, r := range c.ok {
		if r.topic == topic {
			seen[r.offset] = true
		}
	}
	return len(seen)
}

// attempts returns how many times the record at offset of topic was given
// to Write.
func (c *testConn) attempts(topic string, offset uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, b := range c.batches {
		for _, r := range b {
			if r.topic == topic && r.offset == offset {
				n++
			}
		}
	}
	return n
}

// failAt returns a BatchError failing the records of batch at the offsets
// given, with the error err.
func failAt(batch []*Record, err error, offsets ...uint64) error {
	var be BatchError
	for i, r := range batch {
		if slices.Contains(offsets, r.Offset) {
			be.Failures = append(be.Failures, RecordError{Index: i, Err: err})
		}
	}
	if len(be.Failures) == 0 {
		return nil
	}
	return &be
}

// env is a broker with topics, a client and an admin for one test.
type env struct {
	t      *testing.T
	broker *danubetest.Broker
	client *danube.Client
	admin  *danube.Admin
}

func newEnv(t *testing.T, opts ...danubetest.Option) *env {
	t.Helper()
	b := danubetest.Start(t, opts...)
	client, err := danube.NewClient(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	admin, err := danube.NewAdmin(b.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return &env{t: t, broker: b, client: client, admin: admin}
}

// subscribe creates topic, reliable, and stores the failure policy of
// the subscription sub on it: the given redelivery limit and no
// redelivery delay, so that a nacked message comes back at once. The sink
// creates the subscription itself: wait until it is ready before
// publishing, since a new subscription starts at the latest message.
func (e *env) subscribe(topic, sub string, maxRedeliveries uint32) {
	e.t.Helper()
	e.subscribeWithDelay(topic, sub, maxRedeliveries, 0)
}

// subscribeWithDelay is subscribe with a redelivery delay, on the
// broker's clock.
func (e *env) subscribeWithDelay(topic, sub string, maxRedeliveries uint32, delay time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.admin.CreateTopic(ctx, topic, danube.TopicOptions{Reliable: true}); err != nil {
		e.t.Fatalf("create topic %s: %v", topic, err)
	}
	err := e.admin.SetFailurePolicy(ctx, topic, sub, danube.FailurePolicy{
		MaxRedeliveryCount:  maxRedeliveries,
		AckTimeout:          time.Hour,
		BaseRedeliveryDelay: delay,
		MaxRedeliveryDelay:  delay,
		PoisonPolicy:        danube.Drop,
	})
	if err != nil {
		e.t.Fatalf("set failure policy of %s on %s: %v", sub, topic, err)
	}
}

// waitConsumer waits until sub on topic has a consumer.
func (e *env) waitConsumer(topic, sub string) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(e.broker.Consumers(topic)[sub]) == 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("no consumer subscribed %s to %s", sub, topic)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// publish sends n messages to topic, payloads "<prefix>-<i>", with an
// attribute and a routing key.
func (e *env) publish(topic, prefix string, n int) {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true})
	if err != nil {
		e.t.Fatalf("producer for %s: %v", topic, err)
	}
	defer p.Close()
	for i := range n {
		msg := danube.Message{
			Payload:    fmt.Appendf(nil, "%s-%d", prefix, i),
			Attributes: map[string]string{"origin": "test", "index": fmt.Sprint(i)},
			RoutingKey: fmt.Sprintf("key-%d", i%3),
		}
		if err := p.Send(ctx, msg); err != nil {
			e.t.Fatalf("publish to %s: %v", topic, err)
		}
	}
}

// pending returns the unacknowledged entries of sub on topic.
func (e *env) pending(topic, sub string) []danubetest.PendingEntry {
	st, ok := e.broker.Subscription(topic, sub)
	if !ok {
		e.t.Fatalf("no subscription %s on %s", sub, topic)
	}
	return st.Pending
}

// testConsumer is the consumer name of every test sink.
const testConsumer = "test-sink"

// config returns a sink configuration for this broker with one topic.
func (e *env) config(topic, sub string) Config {
	cfg := DefaultConfig()
	cfg.ServiceURL = e.broker.URL()
	cfg.ConnectorName = "test-sink"
	cfg.DanubeTopic = []string{topic}
	cfg.SubscriptionName = sub
	cfg.ConsumerName = testConsumer
	cfg.RetryBackoff = 0 // retry at once unless a test is about the backoff
	return cfg
}

// running is a Runtime running in a goroutine of its own.
type running struct {
	rt     *Runtime
	cancel context.CancelFunc
	done   chan error
}

// start runs a runtime for conn with cfg until the test stops it.
func start(t *testing.T, conn Connector, cfg Config, opts Options) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	opts.Supervisor = append([]supervisor.Option{supervisor.WithBackoff(supervisor.Backoff{Initial: -1})}, opts.Supervisor...)
	rt, err := New(conn, cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rt: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitLimit):
			t.Error("Run did not return at the end of the test")
		}
	})
	return r
}

// stop cancels Run and returns its result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait returns Run's result once it returned.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
		return nil
	}
}

// waitReady waits until the runtime reports itself ready.
func (r *running) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := r.rt.Ready(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runtime is not ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitAcked waits until the runtime's routes have acked n records.
func (r *running) waitAcked(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var got uint64
		for _, st := range r.rt.Stats() {
			got += st.Acked
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the routes acked %d records, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitInFlight waits until the runtime's routes hold n records.
func (r *running) waitInFlight(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var got int64
		for _, st := range r.rt.Stats() {
			got += st.InFlight
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the routes hold %d records, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

func newFakeClock() *clock.Fake { return clock.NewFake(time.Time{}) }

func testLogger() *slog.Logger {
	if os.Getenv("SINK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
