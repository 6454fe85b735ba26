package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// scriptedConnector writes, on its first Write, every record except those
// at the indexes in failed, and returns first(batch). Later Writes write
// everything.
type scriptedConnector struct {
	mu      sync.Mutex
	calls   int
	failed  map[int]bool
	first   func(batch []*sink.Record) error
	written map[int]bool
}

func (c *scriptedConnector) Open(context.Context) error   { return nil }
func (c *scriptedConnector) Close(context.Context) error  { return nil }
func (c *scriptedConnector) Health(context.Context) error { return nil }
func (c *scriptedConnector) Write(_ context.Context, batch []*sink.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls == 1 {
		for i, r := range batch {
			if !c.failed[i] {
				c.written[int(r.Offset)] = true
			}
		}
		return c.first(batch)
	}
	for _, r := range batch {
		c.written[int(r.Offset)] = true
	}
	return nil
}

// runScripted writes n records through a pipeline whose stage replaces the
// records at the offsets in nils by nil, and a Writer over conn. It
// returns how each record was settled, and Run's error.
func runScripted(t *testing.T, conn *scriptedConnector, n int, nils map[uint64]bool) (map[int]string, error) {
	t.Helper()
	var mu sync.Mutex
	got := map[int]string{}
	sent := false
	src := stage.SourceFunc[*sink.Record](func(ctx context.Context, buf []stage.Msg[*sink.Record]) (int, error) {
		if sent {
			return 0, io.EOF
		}
		sent = true
		for i := range n {
			buf[i] = stage.NewMsg(&sink.Record{Topic: "/default/t", Offset: uint64(i), Payload: []byte("x")}, 1, outcomeSettler{mu: &mu, got: got, name: i})
		}
		return n, nil
	})

	p := stage.New("writer", stage.Options{DrainTimeout: 5 * time.Second})
	in := stage.From(p, "receive", src)
	mapped := stage.Then(in, "holes", stage.Map(func(_ context.Context, r *sink.Record) (*sink.Record, error) {
		if nils[r.Offset] {
			return nil, nil
		}
		return r, nil
	}))
	batches := stage.Batch(mapped, "batch", stage.BatchOptions{MaxCount: n, MaxWait: time.Second})
	w := sink.NewWriter(conn, sink.WriterOptions{DeadLetter: true})
	stage.Write(batches, "write", w, stage.WriteOptions{Retry: stage.RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond}})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runErr := p.Run(ctx)
	_ = w.Close(context.Background())

	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got), runErr
}

// TestWriterMergesJoinedBatchErrors: a connector that writes two
// sub-batches (two collections, say) joins their BatchErrors. The failures
// of both are retried, and no record is acked before it is written. In the
// end every record is written and acked, and the nil one dead-lettered.
func TestWriterMergesJoinedBatchErrors(t *testing.T) {
	for name, nils := range map[string]map[uint64]bool{"no nils": nil, "with nil": {3: true}} {
		t.Run(name, func(t *testing.T) {
			conn := &scriptedConnector{
				failed:  map[int]bool{0: true, 2: true},
				written: map[int]bool{},
				first: func([]*sink.Record) error {
					return errors.Join(
						&sink.BatchError{Failures: []sink.RecordError{{Index: 0, Err: sink.Retryable(errors.New("a"))}}},
						&sink.BatchError{Failures: []sink.RecordError{{Index: 2, Err: sink.Retryable(errors.New("b"))}}},
					)
				},
			}
			got, _ := runScripted(t, conn, 4, nils)
			t.Logf("settlements %v, written %v", got, conn.written)
			for i, s := range got {
				if s == "ack" && !conn.written[i] {
					t.Errorf("record %d acked but never written", i)
				}
				want := "ack"
				if nils[uint64(i)] {
					want = "dead-letter"
				}
				if s != want {
					t.Errorf("record %d settled %q, want %q (settlements %v)", i, s, want, got)
				}
			}
			if len(got) != 4 {
				t.Errorf("%d records settled, want 4: %v", len(got), got)
			}
		})
	}
}

// TestWriterNeverAcksUnwrittenOnInvalidBatchErrors covers BatchErrors that
// do not show which records were written: an index out of range, negative
// or listed twice, no failure at all, or a join with an error of another
// kind. Alone, wrapped, with nil records or with marks, none of them may
// get an unwritten record acked.
func TestWriterNeverAcksUnwrittenOnInvalidBatchErrors(t *testing.T) {
	mk := func(fs ...sink.RecordError) *sink.BatchError { return &sink.BatchError{Failures: fs} }
	cases := map[string]struct {
		failed map[int]bool
		err    func(b []*sink.Record) error
	}{
		"negative": {map[int]bool{0: true, 1: true}, func(b []*sink.Record) error {
			return mk(sink.RecordError{Index: -1, Err: sink.Retryable(errors.New("x"))})
		}},
		"dup invalid-data": {map[int]bool{0: true, 1: true}, func(b []*sink.Record) error {
			return mk(sink.RecordError{Index: 0, Err: sink.InvalidData(errors.New("x"))}, sink.RecordError{Index: 0, Err: sink.InvalidData(errors.New("y"))})
		}},
		"out of range fatal": {map[int]bool{0: true, 1: true, 2: true}, func(b []*sink.Record) error {
			return mk(sink.RecordError{Index: len(b), Err: sink.Fatal(errors.New("x"))})
		}},
		"wrapped out of range": {map[int]bool{0: true, 1: true}, func(b []*sink.Record) error {
			return fmt.Errorf("wrap: %w", mk(sink.RecordError{Index: 99, Err: nil}))
		}},
		"empty": {map[int]bool{0: true, 1: true, 2: true}, func(b []*sink.Record) error { return mk() }},
		"joined with an empty BatchError": {map[int]bool{0: true, 1: true, 2: true}, func(b []*sink.Record) error {
			return errors.Join(mk(), mk(sink.RecordError{Index: 2, Err: sink.Retryable(errors.New("x"))}))
		}},
		"empty BatchError in two %w": {map[int]bool{0: true, 1: true, 2: true}, func(b []*sink.Record) error {
			return fmt.Errorf("a: %w; b: %w", mk(), mk(sink.RecordError{Index: 2, Err: sink.Retryable(errors.New("x"))}))
		}},
		"joined with a nil BatchError": {map[int]bool{0: true, 1: true}, func(b []*sink.Record) error {
			var none *sink.BatchError
			return errors.Join(none, mk(sink.RecordError{Index: 0, Err: sink.Retryable(errors.New("x"))}))
		}},
		"joined with another error": {map[int]bool{0: true, 1: true, 3: true}, func(b []*sink.Record) error {
			return errors.Join(mk(sink.RecordError{Index: 0, Err: sink.Retryable(errors.New("x"))}), errors.New("lost the reply for the rest"))
		}},
		"empty invalid-data": {map[int]bool{0: true, 1: true, 2: true}, func(b []*sink.Record) error {
			return sink.InvalidData(mk())
		}},
	}
	for name, c := range cases {
		for _, nils := range []map[uint64]bool{nil, {1: true}} {
			t.Run(fmt.Sprint(name, len(nils)), func(t *testing.T) {
				conn := &scriptedConnector{failed: c.failed, written: map[int]bool{}, first: c.err}
				got, _ := runScripted(t, conn, 4, nils)
				for i, s := range got {
					if s == "ack" && !conn.written[i] {
						t.Errorf("record %d acked but never written (settlements %v)", i, got)
					}
					if nils[uint64(i)] && s != "dead-letter" {
						t.Errorf("nil record %d settled %q", i, s)
					}
				}
			})
		}
	}
}
