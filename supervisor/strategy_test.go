package supervisor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// eventsOf keeps the events of the given type, as "type path" strings.
func eventsOf(events []Event, types ...EventType) []string {
	var out []string
	for _, e := range events {
		if slices.Contains(types, e.Type()) {
			out = append(out, e.Type().String()+" "+e.Path())
		}
	}
	return out
}

func TestOneForAllRestartsEverySibling(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithStrategy(OneForAll), WithBackoff(noBackoff), WithHook(rec.hook))
	a, b, c := newScripted("a"), newScripted("b"), newScripted("c")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b})
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	a1, b1, c1 := a.next(t), b.next(t), c.next(t)
	b1.fail(t, errBoom)
	a.next(t)
	b.next(t)
	c.next(t)
	rec.waitFor(t, EventChildStarted, "root/c")
	rec.waitFor(t, EventChildStarted, "root/c") // the restart

	for name, in := range map[string]*instance{"a": a1, "c": c1} {
		if cause := context.Cause(in.ctx); !errors.Is(cause, ErrSiblingFailed) {
			t.Errorf("cause of %s's stop = %v, want ErrSiblingFailed", name, cause)
		}
	}
	got := eventsOf(rec.events(), EventChildStopped, EventChildStarted)
	want := []string{
		"child_started root/a", "child_started root/b", "child_started root/c",
		"child_stopped root/c", "child_stopped root/a",
		"child_started root/a", "child_started root/b", "child_started root/c",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRestForOneRestartsLaterSiblings(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithStrategy(RestForOne), WithBackoff(noBackoff), WithHook(rec.hook))
	a, b, c := newScripted("a"), newScripted("b"), newScripted("c")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b})
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	a1, b1, c1 := a.next(t), b.next(t), c.next(t)
	b1.fail(t, errBoom)
	b.next(t)
	c.next(t)
	rec.waitFor(t, EventChildStarted, "root/c")
	rec.waitFor(t, EventChildStarted, "root/c")

	a.idle(t)
	if a1.ctx.Err() != nil {
		t.Errorf("a was stopped (%v), want it left running", context.Cause(a1.ctx))
	}
	if cause := context.Cause(c1.ctx); !errors.Is(cause, ErrSiblingFailed) {
		t.Errorf("cause of c's stop = %v, want ErrSiblingFailed", cause)
	}
	got := eventsOf(rec.events(), EventChildStopped, EventChildStarted, EventChildFailed)
	want := []string{
		"child_started root/a", "child_started root/b", "child_started root/c",
		"child_failed root/b", "child_stopped root/c",
		"child_started root/b", "child_started root/c",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRestForOneWaitsForFailedChildDelay(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := newRecorder()
	s := New("root", WithStrategy(RestForOne), WithClock(clk), WithHook(rec.hook),
		WithBackoff(Backoff{Initial: 100 * time.Millisecond, Jitter: -1}))
	a, b := newScripted("a"), newScripted("b")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b})
	r := runInBackground(t, s)

	a1, b1 := a.next(t), b.next(t)
	a1.fail(t, errBoom)
	if err := b1.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("b returned %v, want context.Canceled", err)
	}
	// While b stops, the timer guards b's shutdown timeout; once it has
	// stopped, the timer waits for a's delay.
	rec.waitFor(t, EventChildStopped, "root/b")
	settle(s)
	if d := nextDelay(t, clk); d != 100*time.Millisecond {
		t.Errorf("restart delay = %v, want 100ms", d)
	}
	a.idle(t)
	b.idle(t)

	clk.Advance(100 * time.Millisecond)
	a.next(t)
	b.next(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestOneForAllCountsOneRestartPerFailure(t *testing.T) {
	// With room for one restart, a failure that restarts three children
	// must not exceed the limit.
	s := New("root", WithStrategy(OneForAll), WithBackoff(noBackoff), WithIntensity(1, time.Hour),
		WithClock(clock.NewFake(time.Time{})))
	children := []*scripted{newScripted("a"), newScripted("b"), newScripted("c")}
	for _, c := range children {
		mustAdd(t, s, Spec{Name: c.name, Child: c})
	}
	r := runInBackground(t, s)

	first := children[0].next(t)
	children[1].next(t)
	children[2].next(t)
	first.fail(t, errBoom)
	for _, c := range children {
		c.next(t)
	}
	if r.returned() {
		t.Fatalf("Run returned %v after one failure, want it running", r.wait(t))
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestOneForAllRemovesStoppedTemporarySibling(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithStrategy(OneForAll), WithBackoff(noBackoff), WithHook(rec.hook))
	a, temp := newScripted("a"), newScripted("temp")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "temp", Child: temp, Restart: Temporary})
	r := runInBackground(t, s)

	a1 := a.next(t)
	temp.next(t)
	a1.fail(t, errBoom)
	a.next(t)
	rec.waitFor(t, EventChildStopped, "root/temp")
	settle(s)

	infos := s.Children()
	if len(infos) != 1 || infos[0].Name != "a" {
		t.Errorf("Children() = %+v, want only a: a temporary child is not restarted", infos)
	}
	temp.idle(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestHangingSiblingDelaysGroupRestartByItsTimeout(t *testing.T) {
	// The strategy waits for the hanging sibling's timeout, then restarts
	// the group; the hanging instance is left behind.
	clk := clock.NewFake(time.Time{})
	rec := newRecorder()
	s := New("root", WithStrategy(RestForOne), WithBackoff(noBackoff), WithClock(clk), WithHook(rec.hook))
	a, b := newScripted("a"), newScripted("b")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b, ShutdownTimeout: time.Second})
	r := runInBackground(t, s)

	release := make(chan struct{})
	defer close(release)
	a1 := a.next(t)
	b.next(t).hang(t, release)
	a1.fail(t, errBoom)

	blockUntilWaiting(t, clk, 1)
	if d := nextDelay(t, clk); d != time.Second {
		t.Errorf("timer in %v, want b's 1s shutdown timeout", d)
	}
	a.idle(t)
	clk.Advance(time.Second)
	a.next(t)
	b.next(t)
	rec.waitFor(t, EventStopTimedOut, "root/b")
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}
