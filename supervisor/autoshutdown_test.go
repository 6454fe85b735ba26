package supervisor

import (
	"context"
	"errors"
	"testing"
)

func TestAutoShutdownAnySignificantStopsOnFirstEnd(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithAutoShutdown(AnySignificant), WithBackoff(noBackoff), WithHook(rec.hook))
	a, b, other := newScripted("a"), newScripted("b"), newScripted("other")
	mustAdd(t, s, Spec{Name: "a", Child: a, Restart: Transient, Significant: true})
	mustAdd(t, s, Spec{Name: "b", Child: b, Restart: Transient, Significant: true})
	mustAdd(t, s, Spec{Name: "other", Child: other})
	r := runInBackground(t, s)

	a1, b1, o1 := a.next(t), b.next(t), other.next(t)
	a1.fail(t, errBoom) // a failure restarts a transient child: no shutdown
	a.next(t)
	if b1.ctx.Err() != nil || o1.ctx.Err() != nil {
		t.Fatal("siblings stopped after a restartable failure")
	}

	b1.succeed(t)
	if err := r.wait(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	ev := rec.waitFor(t, EventAutoShutdownStarted, "root").(AutoShutdownStarted)
	if ev.Trigger != "root/b" || ev.Mode != AnySignificant {
		t.Errorf("AutoShutdownStarted = %+v, want trigger root/b, mode any_significant", ev)
	}
	if !errors.Is(context.Cause(o1.ctx), ErrShutdown) {
		t.Errorf("other stopped with cause %v, want ErrShutdown", context.Cause(o1.ctx))
	}
}

func TestAutoShutdownAllSignificantWaitsForLast(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithAutoShutdown(AllSignificant), WithHook(rec.hook))
	a, b, other := newScripted("a"), newScripted("b"), newScripted("other")
	mustAdd(t, s, Spec{Name: "a", Child: a, Restart: Transient, Significant: true})
	mustAdd(t, s, Spec{Name: "b", Child: b, Restart: Temporary, Significant: true})
	mustAdd(t, s, Spec{Name: "other", Child: other})
	r := runInBackground(t, s)

	a1, b1, o1 := a.next(t), b.next(t), other.next(t)
	a1.succeed(t)
	rec.waitFor(t, EventChildExited, "root/a")
	settle(s)
	if b1.ctx.Err() != nil || o1.ctx.Err() != nil || r.returned() {
		t.Fatal("supervisor stopping after one of two significant children ended")
	}

	b1.fail(t, errBoom) // a temporary child ends even on failure
	if err := r.wait(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if o1.ctx.Err() == nil {
		t.Error("other still running after Run returned")
	}
}

func TestAutoShutdownNeverIgnoresSignificantEnd(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithHook(rec.hook))
	a, other := newScripted("a"), newScripted("other")
	mustAdd(t, s, Spec{Name: "a", Child: a, Restart: Transient, Significant: true})
	mustAdd(t, s, Spec{Name: "other", Child: other})
	r := runInBackground(t, s)

	a1, o1 := a.next(t), other.next(t)
	a1.succeed(t)
	rec.waitFor(t, EventChildExited, "root/a")
	settle(s)
	if o1.ctx.Err() != nil || r.returned() {
		t.Fatal("supervisor stopped although its auto shutdown is Never")
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRemovingSignificantChildDoesNotShutDown(t *testing.T) {
	s := New("root", WithAutoShutdown(AnySignificant))
	a, other := newScripted("a"), newScripted("other")
	mustAdd(t, s, Spec{Name: "a", Child: a, Restart: Transient, Significant: true})
	mustAdd(t, s, Spec{Name: "other", Child: other})
	r := runInBackground(t, s)

	a.next(t)
	o1 := other.next(t)
	if err := s.Remove("a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	settle(s)
	if o1.ctx.Err() != nil || r.returned() {
		t.Fatal("supervisor stopped after a significant child was removed")
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}
