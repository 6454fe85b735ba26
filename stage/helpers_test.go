package stage

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// settlement is what a test settler received for one message.
type settlement struct {
	kind   string // "ack", "nack" or "dead-letter"
	delay  time.Duration
	reason string
}

// recorder collects the settlements of the messages of a test, by id, and
// keeps every call so that a second one shows.
type recorder struct {
	mu    sync.Mutex
	calls map[int][]settlement
}

func newRecorder() *recorder { return &recorder{calls: make(map[int][]settlement)} }

func (r *recorder) add(id int, s settlement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id] = append(r.calls[id], s)
}

// settler returns the Settler of message id.
func (r *recorder) settler(id int) Settler { return &testSettler{r: r, id: id} }

// msg returns message id carrying id as its value.
func (r *recorder) msg(id, size int) Msg[int] { return NewMsg(id, size, r.settler(id)) }

// msgs returns messages 0 to n-1.
func (r *recorder) msgs(n, size int) []Msg[int] {
	out := make([]Msg[int], n)
	for i := range out {
		out[i] = r.msg(i, size)
	}
	return out
}

// of returns the settlements of message id.
func (r *recorder) of(id int) []settlement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]settlement(nil), r.calls[id]...)
}

// kinds returns the ids settled with each kind, sorted.
func (r *recorder) kinds() map[string][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]int)
	for id, calls := range r.calls {
		for _, c := range calls {
			out[c.kind] = append(out[c.kind], id)
		}
	}
	for _, ids := range out {
		sort.Ints(ids)
	}
	return out
}

// exactlyOnce fails t unless each of messages 0 to n-1 was settled exactly
// once, and returns the settlement of each.
func (r *recorder) exactlyOnce(t *testing.T, n int) []settlement {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]settlement, n)
	for id := range n {
		calls := r.calls[id]
		if len(calls) != 1 {
			t.Errorf("message %d settled %d times: %v", id, len(calls), calls)
			continue
		}
		out[id] = calls[0]
	}
	for id := range r.calls {
		if id < 0 || id >= n {
			t.Errorf("settlement for unknown message %d", id)
		}
	}
	return out
}

type testSettler struct {
	r  *recorder
	id int
}

func (s *testSettler) Ack() { s.r.add(s.id, settlement{kind: "ack"}) }
func (s *testSettler) Nack(delay time.Duration, reason string) {
	s.r.add(s.id, settlement{kind: "nack", delay: delay, reason: reason})
}
func (s *testSettler) DeadLetter(reason string) {
	s.r.add(s.id, settlement{kind: "dead-letter", reason: reason})
}

// sliceSource hands over its messages, at most chunk at a time when chunk
// is positive, then returns io.EOF, or blocks until ctx is done if hold is
// set.
type sliceSource[T any] struct {
	mu    sync.Mutex
	msgs  []Msg[T]
	chunk int
	hold  bool
	taken int
}

func (s *sliceSource[T]) Receive(ctx context.Context, buf []Msg[T]) (int, error) {
	s.mu.Lock()
	if len(s.msgs) > 0 {
		if s.chunk > 0 && len(buf) > s.chunk {
			buf = buf[:s.chunk]
		}
		n := copy(buf, s.msgs)
		s.msgs = s.msgs[n:]
		s.taken += n
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	if !s.hold {
		return 0, io.EOF
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

func (s *sliceSource[T]) handedOver() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}

// chanSource receives messages from a channel: it waits for the first, then
// takes what is ready. A closed channel ends the source.
type chanSource[T any] chan Msg[T]

func (s chanSource[T]) Receive(ctx context.Context, buf []Msg[T]) (int, error) {
	select {
	case m, ok := <-s:
		if !ok {
			return 0, io.EOF
		}
		buf[0] = m
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	n := 1
	for n < len(buf) {
		select {
		case m, ok := <-s:
			if !ok {
				return n, nil
			}
			buf[n] = m
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// batchLog records the batches a test writer was given.
type batchLog struct {
	mu      sync.Mutex
	batches [][]int
}

func (l *batchLog) add(batch []Msg[int]) {
	vals := make([]int, len(batch))
	for i, m := range batch {
		vals[i] = m.Value
	}
	l.mu.Lock()
	l.batches = append(l.batches, vals)
	l.mu.Unlock()
}

func (l *batchLog) get() [][]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]int(nil), l.batches...)
}

// testOptions returns options for a test: a fake clock, restarts without
// backoff, and the given changes.
func testOptions(clk *clock.Fake, change func(*Options)) Options {
	o := Options{
		Clock:        clk,
		DrainTimeout: 10 * time.Second,
		Supervisor: []supervisor.Option{
			supervisor.WithBackoff(supervisor.Backoff{Initial: -1}),
		},
	}
	if change != nil {
		change(&o)
	}
	return o
}

// runAsync runs p in a goroutine and returns the channel of its result.
func runAsync(ctx context.Context, p *Pipeline) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return done
}

// wait returns the result of a run, failing t if it takes more than a
// minute of real time, which only a hang does.
func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("pipeline did not return within a minute")
		return nil
	}
}

// eventually polls cond without sleeping, yielding to other goroutines,
// and fails t if cond is still false after a minute of real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func ids(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

var _ = fmt.Sprint
