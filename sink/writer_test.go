package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// outcomeSettler records the settlement of one message.
type outcomeSettler struct {
	mu   *sync.Mutex
	got  map[int]string
	name int
}

func (s outcomeSettler) Ack()                       { s.set("ack") }
func (s outcomeSettler) Nack(time.Duration, string) { s.set("nack") }
func (s outcomeSettler) DeadLetter(string)          { s.set("dead-letter") }
func (s outcomeSettler) set(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.got[s.name]; ok {
		s.got[s.name] = old + "+" + v
		return
	}
	s.got[s.name] = v
}

// TestWriterRetriesWholeBatchOnOutOfRangeIndex: a connector's BatchError
// with an index out of range must make the runtime retry the whole batch
// (sink.BatchError's contract). When a stage replaced a record of the
// batch by nil, the connector's indexes count the records it was given,
// not the batch, and the nil record, which never reached the connector,
// is dead-lettered, never acked.
func TestWriterRetriesWholeBatchOnOutOfRangeIndex(t *testing.T) {
	// The first Write writes nothing and reports a failure one past the
	// end of the two records it was given.
	conn := &scriptedConnector{
		failed:  map[int]bool{0: true, 1: true},
		written: map[int]bool{},
		first: func(batch []*sink.Record) error {
			return &sink.BatchError{Failures: []sink.RecordError{{Index: len(batch), Err: sink.Retryable(errors.New("lost reply"))}}}
		},
	}
	got, err := runScripted(t, conn, 3, map[uint64]bool{1: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	t.Logf("settlements %v, written %v", got, conn.written)
	if got[1] != "dead-letter" {
		t.Errorf("the record a stage replaced by nil was settled %q, want dead-letter: it never reached the connector", got[1])
	}
	for i := range 3 {
		if got[i] == "ack" && i != 1 && !conn.written[i] {
			t.Errorf("record %d acked but never written", i)
		}
	}
}

// randomConnector ends each Write with an outcome drawn from rng:
// everything written, a plain, invalid-data or fatal error for the
// batch, a valid BatchError, or an invalid one (an index out of range or
// listed twice). It records which records it reported written.
type randomConnector struct {
	rng *rand.Rand

	mu        sync.Mutex
	fatal     bool            // a fatal error was returned; at most one a run
	given     map[uint64]int  // offset to the Writes that got the record
	written   map[uint64]bool // offsets reported written
	rewritten []uint64        // offsets given again after they were reported written
	reports   []string        // the outcome of each Write, for failure messages
}

func (c *randomConnector) Open(context.Context) error   { return nil }
func (c *randomConnector) Close(context.Context) error  { return nil }
func (c *randomConnector) Health(context.Context) error { return nil }

func (c *randomConnector) Write(_ context.Context, batch []*sink.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range batch {
		c.given[r.Offset]++
		if c.written[r.Offset] {
			c.rewritten = append(c.rewritten, r.Offset)
		}
	}

	failed := make(map[int]bool)
	var err error
	switch k := c.rng.IntN(7); {
	case k == 0 || k == 1:
		c.report("all written")
	case k == 2:
		err = errors.New("timed out")
		c.report("plain error")
	case k == 3:
		err = sink.InvalidData(errors.New("bad batch"))
		c.report("invalid data")
	case k == 4 && !c.fatal:
		c.fatal = true
		err = sink.Fatal(errors.New("connection lost"))
		c.report("fatal")
	case k == 5:
		be := &sink.BatchError{}
		for i := range batch {
			if c.rng.IntN(2) == 0 {
				continue
			}
			failed[i] = true
			classes := []func(error) error{sink.Retryable, sink.InvalidData, func(e error) error { return e }}
			be.Failures = append(be.Failures, sink.RecordError{Index: i, Err: classes[c.rng.IntN(len(classes))](errors.New("record failed"))})
		}
		if len(be.Failures) == 0 {
			err = nil // nothing failed: everything written
			c.report("all written")
			break
		}
		err = be
		c.report(fmt.Sprintf("valid BatchError failing %d of %d", len(be.Failures), len(batch)))
	default:
		be := &sink.BatchError{}
		for i := range batch {
			if c.rng.IntN(2) == 0 {
				be.Failures = append(be.Failures, sink.RecordError{Index: i, Err: errors.New("record failed")})
			}
		}
		bad := []int{len(batch), len(batch) + c.rng.IntN(5), -1}
		if len(be.Failures) > 0 {
			bad = append(bad, be.Failures[0].Index) // listed twice
		}
		index := bad[c.rng.IntN(len(bad))]
		be.Failures = append(be.Failures, sink.RecordError{Index: index, Err: errors.New("record failed")})
		c.rng.Shuffle(len(be.Failures), func(i, j int) { be.Failures[i], be.Failures[j] = be.Failures[j], be.Failures[i] })
		err = be
		c.report(fmt.Sprintf("invalid BatchError with index %d in a batch of %d", index, len(batch)))
		// An invalid report does not show what was written.
		return err
	}

	if err != nil {
		if _, ok := err.(*sink.BatchError); !ok {
			return err
		}
	}
	for i, r := range batch {
		if !failed[i] {
			c.written[r.Offset] = true
		}
	}
	return err
}

func (c *randomConnector) report(what string) { c.reports = append(c.reports, what) }

// TestWriterSettlesEveryRecordOnceProperty runs random batches, with
// random records replaced by nil, through a Writer whose connector answers
// at random, bad indexes included. Every record is settled exactly once;
// a record is acked if and only if the connector reported it written; a
// record reported written never reaches the connector again; a nil record
// is dead-lettered, or nacked without a dead-letter topic.
func TestWriterSettlesEveryRecordOnceProperty(t *testing.T) {
	const rounds = 500
	kinds := map[bool]int{} // rounds with one Write, and with more
	defer func() { t.Logf("rounds with one Write: %d, with more: %d", kinds[false], kinds[true]) }()
	for seed := range uint64(rounds) {
		rng := rand.New(rand.NewPCG(seed, 20261205))
		n := 1 + rng.IntN(24)
		maxCount := 1 + rng.IntN(n)
		attempts := 1 + rng.IntN(4)
		deadLetter := rng.IntN(2) == 0
		nils := make(map[uint64]bool)
		for i := range n {
			if rng.IntN(4) == 0 {
				nils[uint64(i)] = true
			}
		}
		conn := &randomConnector{rng: rng, given: map[uint64]int{}, written: map[uint64]bool{}}

		got := runRandomWriter(t, conn, n, nils, maxCount, attempts, deadLetter)

		conn.mu.Lock()
		kinds[len(conn.reports) > 1]++
		where := fmt.Sprintf("seed %d (%d records, nil %v, batches of %d, %d attempts, dead letters %v; writes %q)",
			seed, n, nils, maxCount, attempts, deadLetter, conn.reports)
		for i := range n {
			offset := uint64(i)
			outcome := got[i]
			switch outcome {
			case "ack", "nack", "dead-letter":
			default:
				t.Errorf("%s: record %d settled %q, want exactly one settlement", where, i, outcome)
				continue
			}
			if nils[offset] {
				want := "nack"
				if deadLetter {
					want = "dead-letter"
				}
				if outcome != want {
					t.Errorf("%s: nil record %d settled %q, want %s", where, i, outcome, want)
				}
				if conn.given[offset] > 0 {
					t.Errorf("%s: nil record %d reached the connector", where, i)
				}
				continue
			}
			if outcome == "ack" && !conn.written[offset] {
				t.Errorf("%s: record %d acked but never reported written", where, i)
			}
			if outcome != "ack" && conn.written[offset] {
				t.Errorf("%s: record %d reported written but settled %q", where, i, outcome)
			}
		}
		if len(conn.rewritten) > 0 {
			t.Errorf("%s: records %v were given to the connector again after it reported them written", where, conn.rewritten)
		}
		conn.mu.Unlock()
		if t.Failed() {
			return
		}
	}
}

// runRandomWriter runs n records, those at the offsets in nils replaced by
// nil, through batches of maxCount and a Writer over conn, and returns the
// settlement of each record by offset.
func runRandomWriter(t *testing.T, conn *randomConnector, n int, nils map[uint64]bool, maxCount, attempts int, deadLetter bool) map[int]string {
	t.Helper()
	var mu sync.Mutex
	got := map[int]string{}
	next := 0
	src := stage.SourceFunc[*sink.Record](func(_ context.Context, buf []stage.Msg[*sink.Record]) (int, error) {
		if next == n {
			return 0, io.EOF
		}
		k := 0
		for ; k < len(buf) && next < n; k++ {
			buf[k] = stage.NewMsg(&sink.Record{Topic: "/default/t", Offset: uint64(next), Payload: []byte("x")}, 1, outcomeSettler{mu: &mu, got: got, name: next})
			next++
		}
		return k, nil
	})

	p := stage.New("writer", stage.Options{
		DrainTimeout: 5 * time.Second,
		Supervisor:   []supervisor.Option{supervisor.WithBackoff(supervisor.Backoff{Initial: -1})},
	})
	in := stage.From(p, "receive", src)
	holes := stage.Then(in, "holes", stage.Map(func(_ context.Context, r *sink.Record) (*sink.Record, error) {
		if nils[r.Offset] {
			return nil, nil
		}
		return r, nil
	}))
	batches := stage.Batch(holes, "batch", stage.BatchOptions{MaxCount: maxCount, MaxWait: time.Second})
	w := sink.NewWriter(conn, sink.WriterOptions{DeadLetter: deadLetter})
	stage.Write(batches, "write", w, stage.WriteOptions{Retry: stage.RetryPolicy{MaxAttempts: attempts, Initial: -1}})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	out := make(map[int]string, len(got))
	for k, v := range got {
		out[k] = v
	}
	return out
}
