package stage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
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
		Logger:       slog.New(slog.DiscardHandler),
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

// recordingWriter returns a writer that records each batch it is given and
// returns what result returns for that call, counted from 1; a nil result
// means success.
func recordingWriter(log *batchLog, result func(call int, batch []Msg[int]) error) Writer[int] {
	var mu sync.Mutex
	calls := 0
	return WriterFunc[int](func(_ context.Context, batch []Msg[int]) error {
		log.add(batch)
		mu.Lock()
		calls++
		call := calls
		mu.Unlock()
		if result == nil {
			return nil
		}
		return result(call, batch)
	})
}

// values returns the values of the batches, flattened.
func (l *batchLog) values() []int {
	var out []int
	for _, b := range l.get() {
		out = append(out, b...)
	}
	return out
}

// driveClock moves clk to its next deadline whenever a timer waits, so
// that time passes as fast as the code under test waits for it, until the
// returned function is called.
func driveClock(clk *clock.Fake) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for clk.BlockUntil(ctx, 1) == nil {
			if at, ok := clk.NextDeadline(); ok {
				clk.Advance(max(at.Sub(clk.Now()), 0))
			}
			runtime.Gosched()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// eventCounter counts supervisor events by type and child path.
type eventCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *eventCounter) hook(ev supervisor.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	c.counts[ev.Type().String()+" "+ev.Path()]++
}

func (c *eventCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

// waitForTimer waits until the earliest timer of clk is due at at.
func waitForTimer(t *testing.T, clk *clock.Fake, at time.Time) {
	t.Helper()
	eventually(t, fmt.Sprint("a timer due at ", at), func() bool {
		next, ok := clk.NextDeadline()
		return ok && next.Equal(at)
	})
}

// signal returns an observer whose Received closes the returned channel
// once stage has received n messages in all.
func signalReceived(stage string, n int) (Observer, <-chan struct{}) {
	ch := make(chan struct{})
	var mu sync.Mutex
	total := 0
	return Observer{Received: func(s string, k int) {
		if s != stage {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		before := total
		total += k
		if before < n && total >= n {
			close(ch)
		}
	}}, ch
}

// stage returns the base of p's stage named name.
func stageNamed(t *testing.T, p *Pipeline, name string) *stageBase {
	t.Helper()
	for _, s := range p.stages {
		if s.base().name == name {
			return s.base()
		}
	}
	t.Fatalf("no stage %q", name)
	return nil
}

// waitStatus waits until the named stage of p has status st.
func waitStatus(t *testing.T, p *Pipeline, name string, st status) {
	t.Helper()
	b := stageNamed(t, p, name)
	eventually(t, fmt.Sprintf("stage %s to be %v", name, st), func() bool { return b.getStatus() == st })
}

// waitReturned waits until no run of the named stage of p is in progress.
func waitReturned(t *testing.T, p *Pipeline, name string) {
	t.Helper()
	b := stageNamed(t, p, name)
	eventually(t, fmt.Sprintf("stage %s to return", name), func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !b.running
	})
}
