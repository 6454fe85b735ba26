package sink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// dropOdd is a Transform that keeps the records at even offsets.
func dropOdd(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
	return stage.Then(in, "even", stage.Filter(func(r *Record) bool { return r.Offset%2 == 0 }))
}

func TestTransformFilterAcksDroppedRecords(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	conn := newTestConn()
	r := start(t, conn, e.config(testTopic, testSub), Options{Transform: dropOdd})
	r.waitReady(t)
	e.publish(testTopic, "m", 10)
	conn.waitUntil(t, "the even records are written", func(c *testConn) bool { return c.distinct(testTopic) == 5 })
	// The odd records are acked without a write, possibly after the last
	// even one was written.
	r.waitAcked(t, 10)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.writtenOffsets(testTopic); !slices.Equal(got, []uint64{0, 2, 4, 6, 8}) {
		t.Errorf("written offsets %v, want the even ones", got)
	}
	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != 9 {
		t.Errorf("cursor %d, want 9: the records filtered out are acked too", st.Cursor)
	}
	if len(st.Pending) != 0 {
		t.Errorf("pending %+v, want none", st.Pending)
	}
	if got := r.rt.Stats()[0]; got.Acked != 10 || got.InFlight != 0 {
		t.Errorf("stats %+v, want 10 acked and none in flight", got.Stats)
	}
}

func TestTransformMapChangesWrittenRecords(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	enrich := func(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		return stage.Then(in, "enrich", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			out := *r
			out.Payload = bytes.ToUpper(r.Payload)
			out.Attributes = map[string]string{"enriched": "yes", "index": r.Attributes["index"]}
			return &out, nil
		}))
	}
	var mu sync.Mutex
	var attrs []map[string]string
	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range batch {
			attrs = append(attrs, r.Attributes)
		}
		return nil
	}
	r := start(t, conn, e.config(testTopic, testSub), Options{Transform: enrich})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "every record is written", func(c *testConn) bool { return c.distinct(testTopic) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	conn.mu.Lock()
	var payloads []string
	for _, w := range conn.ok {
		payloads = append(payloads, w.payload)
	}
	conn.mu.Unlock()
	if want := []string{"M-0", "M-1", "M-2"}; !slices.Equal(payloads, want) {
		t.Errorf("the connector got payloads %q, want %q", payloads, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range attrs {
		if a["enriched"] != "yes" || a["origin"] != "" {
			t.Errorf("record %d has attributes %v, want those of the Map", i, a)
		}
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}
}

func TestTransformMapErrorDeadLetters(t *testing.T) {
	const dlq = "/default/orders-dlq"
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	parse := func(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		return stage.Then(in, "parse", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			if string(r.Payload) == "m-1" {
				return nil, stage.Permanent(errors.New("payload m-1 is not an order"))
			}
			return r, nil
		}))
	}
	conn := newTestConn()
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = dlq
	r := start(t, conn, cfg, Options{Transform: parse})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the valid records are written", func(c *testConn) bool { return c.distinct(testTopic) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := conn.writtenOffsets(testTopic); !slices.Equal(got, []uint64{0, 2}) {
		t.Errorf("written offsets %v, want [0 2]", got)
	}
	if p := e.pending(testTopic, testSub); len(p) != 0 {
		t.Errorf("pending after the stop: %+v, want every message acked", p)
	}
	if got := r.rt.Stats()[0].DeadLettered; got != 1 {
		t.Errorf("%d records dead-lettered, want 1", got)
	}
	dead := e.broker.Messages(dlq)
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic holds %d messages, want 1", len(dead))
	}
	msg := dead[0]
	if string(msg.Payload) != "m-1" || msg.Attributes[AttrOriginalOffset] != "1" {
		t.Errorf("dead letter %q from offset %s, want m-1 from offset 1", msg.Payload, msg.Attributes[AttrOriginalOffset])
	}
	if got := msg.Attributes[AttrFailureReason]; got != "stage parse: payload m-1 is not an order" {
		t.Errorf("dead letter %s = %q, want the stage's name and the Map's error", AttrFailureReason, got)
	}
}

func TestTransformFailureNamesItsStage(t *testing.T) {
	const dlq = "/default/orders-dlq"
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	// Two stages that could fail: only the stage name in the reason
	// shows which one did.
	twoStages := func(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		enriched := stage.Then(in, "enrich", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			return r, nil
		}))
		return stage.Then(enriched, "redact", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			if string(r.Payload) == "m-1" {
				return nil, errors.New("pricing service unavailable")
			}
			return r, nil
		}))
	}
	logs := &capturedLog{}
	conn := newTestConn()
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = dlq
	r := start(t, conn, cfg, Options{Transform: twoStages, Logger: slog.New(logs)})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the other records are written", func(c *testConn) bool { return c.distinct(testTopic) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	const want = "stage redact: pricing service unavailable"
	dead := e.broker.Messages(dlq)
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic holds %d messages, want 1", len(dead))
	}
	if got := dead[0].Attributes[AttrFailureReason]; got != want {
		t.Errorf("dead letter %s = %q, want %q", AttrFailureReason, got, want)
	}
	warnings := logs.warnings(deadLetteredWarning)
	if len(warnings) != 1 {
		t.Fatalf("%d warnings about dead letters: %+v, want 1", len(warnings), warnings)
	}
	if warnings[0].reason != want {
		t.Errorf("warning's first reason %q, want %q", warnings[0].reason, want)
	}
}

func TestTransformNilRecordNacked(t *testing.T) {
	// Nacked messages wait an hour on a clock that never moves, so the
	// broker's state shows the nack.
	e := newEnv(t, danubetest.WithClock(newFakeClock()))
	e.subscribeWithDelay(testTopic, testSub, 3, time.Hour)

	drop := func(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		return stage.Then(in, "lose", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			if r.Offset == 1 {
				return nil, nil
			}
			return r, nil
		}))
	}
	conn := newTestConn()
	r := start(t, conn, e.config(testTopic, testSub), Options{Transform: drop})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the other records are written", func(c *testConn) bool { return c.distinct(testTopic) == 2 })
	r.waitInFlight(t, 0)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	conn.mu.Lock()
	for i, b := range conn.batches {
		for _, w := range b {
			if w.offset == 1 {
				t.Errorf("batch %d gave the connector offset 1, which a stage replaced by nil", i)
			}
		}
	}
	conn.mu.Unlock()
	p := e.pending(testTopic, testSub)
	if len(p) != 1 || p[0].Offset != 1 {
		t.Fatalf("pending %+v, want offset 1 alone", p)
	}
	if p[0].Status != "waiting_to_retry" || !strings.Contains(p[0].Reason, "nil") {
		t.Errorf("offset 1: status %s, reason %q; want it nacked for the nil record", p[0].Status, p[0].Reason)
	}
}

func TestTransformCalledOncePerRoute(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ServiceURL = "http://127.0.0.1:1"
	cfg.ConnectorName = "test-sink"
	cfg.Routes = []Route{{Topic: "/default/orders"}, {Topic: "/default/payments", SubscriptionName: "audit"}}
	var seen []Route
	transform := func(route Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		seen = append(seen, route)
		return in
	}
	if _, err := New(newTestConn(), cfg, Options{Transform: transform}); err != nil {
		t.Fatalf("New: %v", err)
	}

	if len(seen) != 2 {
		t.Fatalf("Transform called %d times, want once per route", len(seen))
	}
	if seen[0].Topic != "/default/orders" || seen[0].SubscriptionName != "test-sink" {
		t.Errorf("first route %+v, want /default/orders on the default subscription test-sink", seen[0])
	}
	if seen[1].Topic != "/default/payments" || seen[1].SubscriptionName != "audit" {
		t.Errorf("second route %+v, want /default/payments on audit", seen[1])
	}
}

func TestTransformZeroFlowRejected(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ServiceURL = "http://127.0.0.1:1"
	cfg.ConnectorName = "test-sink"
	cfg.DanubeTopic = []string{testTopic}
	lost := func(Route, stage.Flow[*Record]) stage.Flow[*Record] { return stage.Flow[*Record]{} }

	_, err := New(newTestConn(), cfg, Options{Transform: lost})
	if err == nil || !strings.Contains(err.Error(), "Transform returned the zero Flow") {
		t.Fatalf("New = %v, want an error naming the zero Flow", err)
	}
}

func TestTransformInvalidPipelineRejectedByNew(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ServiceURL = "http://127.0.0.1:1"
	cfg.ConnectorName = "test-sink"
	cfg.DanubeTopic = []string{testTopic}
	taken := func(_ Route, in stage.Flow[*Record]) stage.Flow[*Record] {
		return stage.Then(in, StageBatch, stage.Filter(func(*Record) bool { return true }))
	}

	rt, err := New(newTestConn(), cfg, Options{Logger: testLogger(), Transform: taken})
	if rt != nil || !errors.Is(err, stage.ErrInvalidPipeline) {
		t.Fatalf("New = %v, %v; want no runtime and an error wrapping stage.ErrInvalidPipeline", rt, err)
	}
	if !strings.Contains(err.Error(), `"batch"`) {
		t.Errorf("New = %v, want the error to name the stage", err)
	}
}
