package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// waitLimit bounds every wait of the harness on the real clock. It only
// turns a deadlock into a test failure; no behaviour under test depends on
// it, since time-based behaviour runs on a fake clock.
const waitLimit = 10 * time.Second

// scripted is a Child that the test drives: each call of Run announces
// itself as an instance, then does what the test commands, and otherwise
// returns ctx.Err() once its context is done, as a well-behaved child does.
type scripted struct {
	name string
	runs chan *instance
}

func newScripted(name string) *scripted {
	return &scripted{name: name, runs: make(chan *instance, 128)}
}

// instance is one call of scripted.Run.
type instance struct {
	ctx  context.Context
	cmds chan func() error
	done chan struct{} // closed when Run returned, even by panic
	err  error         // what Run returned, valid after done
}

func (s *scripted) Run(ctx context.Context) error {
	in := &instance{ctx: ctx, cmds: make(chan func() error), done: make(chan struct{})}
	defer close(in.done)
	s.runs <- in

	select {
	case cmd := <-in.cmds:
		in.err = cmd()
	case <-ctx.Done():
		in.err = ctx.Err()
	}
	return in.err
}

// next waits for the next call of Run.
func (s *scripted) next(t testing.TB) *instance {
	t.Helper()
	select {
	case in := <-s.runs:
		return in
	case <-time.After(waitLimit):
		t.Fatalf("child %s was not started", s.name)
		return nil
	}
}

// idle fails the test if Run was called and not yet taken by next.
func (s *scripted) idle(t testing.TB) {
	t.Helper()
	select {
	case <-s.runs:
		t.Fatalf("child %s was started, want it not started", s.name)
	default:
	}
}

// do makes the instance run cmd and return what cmd returns.
func (in *instance) do(t testing.TB, cmd func() error) {
	t.Helper()
	select {
	case in.cmds <- cmd:
	case <-in.done:
		t.Fatalf("instance returned (%v) before it got the command", in.err)
	case <-time.After(waitLimit):
		t.Fatal("instance did not take the command")
	}
}

func (in *instance) fail(t testing.TB, err error) { t.Helper(); in.do(t, func() error { return err }) }
func (in *instance) succeed(t testing.TB)         { t.Helper(); in.do(t, func() error { return nil }) }
func (in *instance) panicWith(t testing.TB, v any) {
	t.Helper()
	in.do(t, func() error { panic(v) })
}

// hang makes the instance ignore its context until release is closed.
func (in *instance) hang(t testing.TB, release <-chan struct{}) {
	t.Helper()
	in.do(t, func() error { <-release; return nil })
}

// wait waits until Run returned and returns what it returned.
func (in *instance) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-in.done:
		return in.err
	case <-time.After(waitLimit):
		t.Fatal("instance did not return")
		return nil
	}
}

// running is a supervisor run in progress in a goroutine of the test.
type running struct {
	cancel context.CancelFunc
	result chan error
}

func runInBackground(t testing.TB, s *Supervisor) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, result: make(chan error, 1)}
	go func() { r.result <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.result:
		case <-time.After(waitLimit):
			t.Errorf("supervisor %s did not return at cleanup", s.Name())
		}
	})
	return r
}

// stop cancels the run and returns Run's result.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// wait waits for Run to return by itself and returns its result. It puts
// the result back, so that cleanup finds the run ended.
func (r *running) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.result:
		r.result <- err
		return err
	case <-time.After(waitLimit):
		t.Fatal("supervisor did not return")
		return nil
	}
}

// returned reports whether Run has returned, without waiting.
func (r *running) returned() bool {
	select {
	case err := <-r.result:
		r.result <- err
		return true
	default:
		return false
	}
}

// recorder is a hook that keeps every event for the test to wait on.
type recorder struct {
	ch chan Event

	mu   sync.Mutex
	seen []Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan Event, 1<<14)} }

func (r *recorder) hook(e Event) { r.ch <- e }

// waitFor reads events until one of type typ about path arrives, and
// returns it.
func (r *recorder) waitFor(t testing.TB, typ EventType, path string) Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case e := <-r.ch:
			r.mu.Lock()
			r.seen = append(r.seen, e)
			r.mu.Unlock()
			if e.Type() == typ && e.Path() == path {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event for %s; seen: %v", typ, path, r.events())
			return nil
		}
	}
}

// events returns the events read so far by waitFor.
func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.seen...)
}

// blockUntilWaiting waits until the fake clock has n active timers, that
// is, until the code under test waits on it.
func blockUntilWaiting(t testing.TB, clk *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := clk.BlockUntil(ctx, n); err != nil {
		t.Fatalf("fake clock: %d timers never became active (have %d)", n, clk.Waiters())
	}
}

// settle returns once the run loop of s has finished its current step,
// because the loop handles a Children request only between two steps.
func settle(s *Supervisor) { s.Children() }

// nextDelay returns how far in the future the earliest fake timer fires.
func nextDelay(t testing.TB, clk *clock.Fake) time.Duration {
	t.Helper()
	at, ok := clk.NextDeadline()
	if !ok {
		t.Fatal("no active timer")
	}
	return at.Sub(clk.Now())
}

var errBoom = errors.New("boom")

func errNumbered(i int) error { return fmt.Errorf("failure %d: %w", i, errBoom) }

// noBackoff restarts at once, for tests about what restarts, not when.
var noBackoff = Backoff{Initial: -1}
