package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

func TestCustomPipelineSettlesEveryRecord(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	ctx := context.Background()
	cons, err := e.client.NewConsumer(ctx, danube.ConsumerOptions{Topic: testTopic, Subscription: testSub, Name: testConsumer, Type: danube.Exclusive})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	// Receive, drop the odd offsets, tag the rest, batch by four, write.
	src := NewSource(cons, SourceOptions{Connector: "custom", Logger: testLogger()})
	conn := newTestConn()
	w := NewWriter(conn, WriterOptions{})
	p := stage.New("custom", stage.Options{Logger: testLogger()})
	records := stage.From(p, "receive", stage.Source[*Record](src))
	even := stage.Then(records, "even", stage.Filter(func(r *Record) bool { return r.Offset%2 == 0 }))
	tagged := stage.Then(even, "tag", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
		out := *r
		out.Payload = append([]byte("tagged "), r.Payload...)
		return &out, nil
	}))
	stage.Write(stage.Batch(tagged, "batch", stage.BatchOptions{MaxCount: 4}), "write", stage.Writer[*Record](w), stage.WriteOptions{})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	e.publish(testTopic, "m", 20)
	conn.waitUntil(t, "the even records are written", func(c *testConn) bool { return c.distinct(testTopic) == 10 })
	waitSettled(t, p, 20)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := src.Close(ctx); err != nil {
		t.Fatalf("Source.Close: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}

	conn.mu.Lock()
	defer conn.mu.Unlock()
	var want []string
	for i := 0; i < 20; i += 2 {
		want = append(want, fmt.Sprintf("tagged m-%d", i))
	}
	var got []string
	for _, w := range conn.ok {
		got = append(got, w.payload)
	}
	if !slices.Equal(got, want) {
		t.Errorf("written %q, want %q", got, want)
	}
	for i, b := range conn.batches {
		if len(b) > 4 {
			t.Errorf("batch %d holds %d records, more than 4", i, len(b))
		}
	}
	if conn.opens != 1 || conn.closes != 1 {
		t.Errorf("the connector was opened %d times and closed %d times, want once each", conn.opens, conn.closes)
	}
	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != 19 || len(st.Pending) != 0 {
		t.Errorf("cursor %d, pending %+v; want 19 and none: every record acked", st.Cursor, st.Pending)
	}
	if src.Err() != nil {
		t.Errorf("Source.Err = %v, want nil", src.Err())
	}
}

func TestSourceCloseSettlesEveryMessage(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	ctx := context.Background()
	cons, err := e.client.NewConsumer(ctx, danube.ConsumerOptions{Topic: testTopic, Subscription: testSub, Name: testConsumer, Type: danube.Exclusive})
	if err != nil {
		t.Fatal(err)
	}
	src := NewSource(cons, SourceOptions{Logger: testLogger()})

	// Receive one message and ack it. The others wait in the consumer's
	// buffer, where Close nacks them, or are still on their way, and the
	// broker delivers them again once the consumer has closed.
	e.publish(testTopic, "m", 3)
	buf := make([]stage.Msg[*Record], 1)
	n, err := src.Receive(ctx, buf)
	if err != nil || n != 1 {
		t.Fatalf("Receive = %d, %v; want 1 message", n, err)
	}
	buf[0].Ack()
	if err := src.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n, err := src.Receive(ctx, buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("Receive after Close = %d, %v; want io.EOF", n, err)
	}
	_ = cons.Close()
	e.waitDelivered(testTopic, testSub, 0)

	st, _ := e.broker.Subscription(testTopic, testSub)
	if st.Cursor != 0 {
		t.Errorf("cursor %d, want 0: the message received is acked", st.Cursor)
	}
	if len(st.Pending) != 2 {
		t.Errorf("pending %+v, want offsets 1 and 2", st.Pending)
	}
	for _, p := range st.Pending {
		if p.Status != "waiting_to_retry" || (p.Reason != leftOver && p.Reason != "") {
			t.Errorf("offset %d: status %s, reason %q; want it nacked as left over, or redelivered", p.Offset, p.Status, p.Reason)
		}
	}
}

// outcome is how a test settler's message was settled.
type outcome struct {
	kind   string // "ack", "nack" or "dead-letter"
	reason string
}

// outcomes records the settlement of each message of a test pipeline.
type outcomes struct {
	mu  sync.Mutex
	got map[int]outcome
}

func (o *outcomes) settler(i int) stage.Settler { return &indexSettler{o: o, i: i} }

func (o *outcomes) set(i int, out outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.got == nil {
		o.got = make(map[int]outcome)
	}
	o.got[i] = out
}

func (o *outcomes) snapshot() map[int]outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.got)
}

type indexSettler struct {
	o *outcomes
	i int
}

func (s *indexSettler) Ack() { s.o.set(s.i, outcome{kind: "ack"}) }
func (s *indexSettler) Nack(_ time.Duration, r string) {
	s.o.set(s.i, outcome{kind: "nack", reason: r})
}
func (s *indexSettler) DeadLetter(reason string) {
	s.o.set(s.i, outcome{kind: "dead-letter", reason: reason})
}

// runWriter writes n records, offsets 0 to n-1, through w in a pipeline
// whose optional transform runs before the batch of n, and returns how
// each was settled once the pipeline has settled them all.
func runWriter(t *testing.T, w *Writer, n int, transform func(stage.Flow[*Record]) stage.Flow[*Record]) map[int]outcome {
	t.Helper()
	var out outcomes
	sent := false
	src := stage.SourceFunc[*Record](func(_ context.Context, buf []stage.Msg[*Record]) (int, error) {
		if sent {
			return 0, io.EOF
		}
		sent = true
		for i := range n {
			buf[i] = stage.NewMsg(&Record{Topic: testTopic, Offset: uint64(i), Payload: []byte(fmt.Sprint(i))}, 1, out.settler(i))
		}
		return n, io.EOF
	})
	p := stage.New("writer", stage.Options{
		Logger:     testLogger(),
		Supervisor: []supervisor.Option{supervisor.WithBackoff(supervisor.Backoff{Initial: -1})},
	})
	flow := stage.From(p, "receive", stage.Source[*Record](src))
	if transform != nil {
		flow = transform(flow)
	}
	stage.Write(stage.Batch(flow, "batch", stage.BatchOptions{MaxCount: n}), "write", stage.Writer[*Record](w),
		stage.WriteOptions{Retry: stage.RetryPolicy{MaxAttempts: 2, Initial: -1}})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}
	return out.snapshot()
}

func TestWriterMapsErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		deadLetter bool
		want       map[int]string // offset to outcome
	}{
		{"dead letters on", true, map[int]string{0: "ack", 1: "dead-letter", 2: "nack", 3: "ack"}},
		{"dead letters off", false, map[int]string{0: "ack", 1: "nack", 2: "nack", 3: "ack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := newTestConn()
			conn.write = func(_ int, batch []*Record) error {
				be := &BatchError{}
				for i, r := range batch {
					switch r.Offset {
					case 1:
						be.Failures = append(be.Failures, RecordError{Index: i, Err: InvalidData(errors.New("not an order"))})
					case 2:
						be.Failures = append(be.Failures, RecordError{Index: i, Err: Retryable(errors.New("timed out"))})
					}
				}
				return be
			}
			got := runWriter(t, NewWriter(conn, WriterOptions{DeadLetter: tc.deadLetter}), 4, nil)

			for offset, kind := range tc.want {
				if got[offset].kind != kind {
					t.Errorf("offset %d: %+v, want %s", offset, got[offset], kind)
				}
			}
			if r := got[1].reason; !strings.Contains(r, "not an order") {
				t.Errorf("offset 1: reason %q, want the connector's error", r)
			}
			if got := conn.attempts(testTopic, 2); got != 2 {
				t.Errorf("offset 2 written %d times, want 2: retried once, then nacked", got)
			}
		})
	}
}

func TestWriterFatalReopensConnector(t *testing.T) {
	conn := newTestConn()
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			return Fatal(errors.New("credentials revoked"))
		}
		return nil
	}
	got := runWriter(t, NewWriter(conn, WriterOptions{}), 3, nil)

	for i := range 3 {
		if got[i].kind != "ack" {
			t.Errorf("offset %d: %+v, want ack: the restarted stage writes the batch again", i, got[i])
		}
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.opens != 2 {
		t.Errorf("the connector was opened %d times, want 2: again after the fatal error", conn.opens)
	}
	if !slices.Equal(conn.closedAt, []int{1, 2}) {
		t.Errorf("the connector was closed after writes %v, want [1 2]: before reopening, and at the end", conn.closedAt)
	}
}

func TestWriterDeadLettersNilRecords(t *testing.T) {
	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		// Fail the record at offset 3 by its index among the records the
		// connector got, which the writer maps back to the batch.
		return failAt(batch, InvalidData(errors.New("not an order")), 3)
	}
	holes := func(in stage.Flow[*Record]) stage.Flow[*Record] {
		return stage.Then(in, "holes", stage.Map(func(_ context.Context, r *Record) (*Record, error) {
			if r.Offset == 0 || r.Offset == 2 {
				return nil, nil
			}
			return r, nil
		}))
	}
	got := runWriter(t, NewWriter(conn, WriterOptions{DeadLetter: true}), 5, holes)

	want := map[int]string{0: "dead-letter", 1: "ack", 2: "dead-letter", 3: "dead-letter", 4: "ack"}
	for offset, kind := range want {
		if got[offset].kind != kind {
			t.Errorf("offset %d: %+v, want %s", offset, got[offset], kind)
		}
	}
	if r := got[0].reason; !strings.Contains(r, "nil") {
		t.Errorf("offset 0: reason %q, want it to name the nil record", r)
	}
	if r := got[3].reason; !strings.Contains(r, "not an order") {
		t.Errorf("offset 3: reason %q, want the connector's error", r)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.batches) != 1 || len(conn.batches[0]) != 3 {
		t.Errorf("the connector got batches %v, want one of the 3 records that are not nil", conn.batches)
	}
}

// waitSettled waits until p has settled n messages.
func waitSettled(t *testing.T, p *stage.Pipeline, n uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := p.Stats()
		if st.Acked+st.Nacked+st.DeadLettered >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline settled %+v, want %d messages", st, n)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// waitDelivered waits until the broker has delivered n messages of sub on
// topic that await their acknowledgement.
func (e *env) waitDelivered(topic, sub string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		delivered := 0
		for _, p := range e.pending(topic, sub) {
			if p.Status == "awaiting_ack" {
				delivered++
			}
		}
		if delivered == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d messages of %s delivered, want %d", delivered, sub, n)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}
