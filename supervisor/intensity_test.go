package supervisor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestIntensityEscalatesTwoLevelsUp(t *testing.T) {
	// leaf gives up on its child's second failure, mid on leaf's second
	// give-up, and root, allowed no restart at all, on mid's first.
	rec := newRecorder()
	root := New("root", WithClock(clock.NewFake(time.Time{})), WithIntensity(0, time.Minute), WithHook(rec.hook))
	mid := New("mid", WithIntensity(1, time.Minute), WithBackoff(noBackoff))
	leaf := New("leaf", WithIntensity(1, time.Minute), WithBackoff(noBackoff))
	w := newScripted("write")
	mustAdd(t, leaf, Spec{Name: "write", Child: w})
	mustAdd(t, mid, Spec{Child: leaf})
	mustAdd(t, root, Spec{Child: mid})
	r := runInBackground(t, root)

	for range 2 { // two runs of leaf
		w.next(t).fail(t, errBoom)
		w.next(t).fail(t, errBoom)
	}
	err := r.wait(t)

	if !errors.Is(err, ErrIntensity) {
		t.Fatalf("Run returned %v, want an error wrapping ErrIntensity", err)
	}
	if !errors.Is(err, errBoom) {
		t.Errorf("Run returned %v, want it to wrap the leaf child's failure", err)
	}
	var paths []string
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		var ie *IntensityError
		if !errors.As(e, &ie) {
			break
		}
		paths = append(paths, ie.Path)
		e = ie
	}
	if want := []string{"root", "root/mid", "root/mid/leaf"}; !slices.Equal(paths, want) {
		t.Errorf("IntensityError paths = %q, want %q", paths, want)
	}
	for _, path := range []string{"root/mid/leaf", "root/mid", "root"} {
		ev := rec.waitFor(t, EventGaveUp, path).(GaveUp)
		if ev.Period != time.Minute {
			t.Errorf("GaveUp for %s: Period %v, want 1m", path, ev.Period)
		}
	}
}

func TestIntensityForgetsRestartsOlderThanPeriod(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk), WithIntensity(2, time.Minute), WithBackoff(noBackoff))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	in := c.next(t)
	for _, wait := range []time.Duration{0, 0, 61 * time.Second, 0} {
		clk.Advance(wait)
		in.fail(t, errBoom)
		in = c.next(t) // restarted: within the limit
	}
	if r.returned() {
		t.Fatalf("Run returned %v, want it still running", r.wait(t))
	}

	in.fail(t, errBoom) // third restart within one minute
	err := r.wait(t)
	var ie *IntensityError
	if !errors.As(err, &ie) {
		t.Fatalf("Run returned %v, want an *IntensityError", err)
	}
	if ie.MaxRestarts != 2 || ie.Period != time.Minute || ie.Path != "root" {
		t.Errorf("IntensityError = %+v, want MaxRestarts 2, Period 1m, Path root", ie)
	}
	var ce *ChildError
	if !errors.As(err, &ce) || ce.Path != "root/c" {
		t.Errorf("Run returned %v, want a *ChildError for root/c inside", err)
	}
}

func TestIntensityStopsSiblingsBeforeReturning(t *testing.T) {
	s := New("root", WithIntensity(0, time.Minute), WithClock(clock.NewFake(time.Time{})))
	bad, good := newScripted("bad"), newScripted("good")
	mustAdd(t, s, Spec{Name: "good", Child: good})
	mustAdd(t, s, Spec{Name: "bad", Child: bad})
	r := runInBackground(t, s)

	g := good.next(t)
	bad.next(t).fail(t, errBoom)
	if err := r.wait(t); !errors.Is(err, ErrIntensity) {
		t.Fatalf("Run returned %v, want ErrIntensity", err)
	}
	select {
	case <-g.done:
	default:
		t.Error("Run returned before its other child returned")
	}
	if cause := context.Cause(g.ctx); !errors.Is(cause, ErrShutdown) {
		t.Errorf("cause of good's stop = %v, want ErrShutdown", cause)
	}
}

func TestDefaultIntensityGivesUpAfterAbout43Seconds(t *testing.T) {
	// The documented figure: with the default backoff, without jitter, a
	// child that fails at once on every start makes its 11th failure at
	// 0.1+0.2+0.4+0.8+1.6+3.2+6.4+10+10+10 = 42.7 s, one restart more than
	// DefaultMaxRestarts allows within DefaultPeriod.
	clk := clock.NewFake(time.Time{})
	start := clk.Now()
	s := New("root", WithClock(clk), WithBackoff(Backoff{Jitter: -1}))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	for range DefaultMaxRestarts {
		c.next(t).fail(t, errBoom)
		blockUntilWaiting(t, clk, 1)
		clk.Advance(nextDelay(t, clk))
	}
	c.next(t).fail(t, errBoom)

	if err := r.wait(t); !errors.Is(err, ErrIntensity) {
		t.Fatalf("Run returned %v, want ErrIntensity", err)
	}
	if took := clk.Since(start); took != 42700*time.Millisecond {
		t.Errorf("gave up after %v, want 42.7s", took)
	}
}
