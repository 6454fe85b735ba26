package supervisor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestAddWhileRunningStartsChild(t *testing.T) {
	s := New("root")
	r := runInBackground(t, s)

	c := newScripted("late")
	mustAdd(t, s, Spec{Name: "late", Child: c})
	if got := PathFromContext(c.next(t).ctx); got != "root/late" {
		t.Errorf("path = %q, want root/late", got)
	}
	err := s.Add(Spec{Name: "late", Child: newScripted("again")})
	if !errors.Is(err, ErrDuplicateName) {
		t.Errorf("second Add with the same name = %v, want ErrDuplicateName", err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestAddAfterStopReturnsErrStopped(t *testing.T) {
	s := New("root")
	r := runInBackground(t, s)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}

	if err := s.Add(Spec{Name: "c", Child: newScripted("c")}); !errors.Is(err, ErrStopped) {
		t.Errorf("Add after stop = %v, want ErrStopped", err)
	}
}

func TestAddDuringShutdownReturnsErrStopped(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c, ShutdownTimeout: time.Second})
	r := runInBackground(t, s)

	release := make(chan struct{})
	defer close(release)
	c.next(t).hang(t, release)
	r.cancel()
	blockUntilWaiting(t, clk, 1) // shutting down, waiting for c

	if err := s.Add(Spec{Name: "d", Child: newScripted("d")}); !errors.Is(err, ErrStopped) {
		t.Errorf("Add during shutdown = %v, want ErrStopped", err)
	}
	clk.Advance(time.Second)
	if err := r.wait(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRemoveStopsChildAndFreesName(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithHook(rec.hook))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)
	in := c.next(t)

	if err := s.Remove("c"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	select {
	case <-in.done:
	default:
		t.Error("Remove returned before the child returned")
	}
	if !errors.Is(context.Cause(in.ctx), ErrRemoved) {
		t.Errorf("cause = %v, want ErrRemoved", context.Cause(in.ctx))
	}
	ev := rec.waitFor(t, EventChildStopped, "root/c").(ChildStopped)
	if !errors.Is(ev.Cause, ErrRemoved) {
		t.Errorf("ChildStopped.Cause = %v, want ErrRemoved", ev.Cause)
	}
	if infos := s.Children(); len(infos) != 0 {
		t.Errorf("Children() = %+v, want none", infos)
	}

	again := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: again})
	again.next(t)
	c.idle(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRemoveReportsChildThatHangs(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c, ShutdownTimeout: 3 * time.Second})
	r := runInBackground(t, s)

	release := make(chan struct{})
	defer close(release)
	c.next(t).hang(t, release)
	removed := make(chan error, 1)
	go func() { removed <- s.Remove("c") }()
	blockUntilWaiting(t, clk, 1)
	clk.Advance(3 * time.Second)

	select {
	case err := <-removed:
		if !errors.Is(err, ErrStopTimeout) {
			t.Errorf("Remove = %v, want ErrStopTimeout", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Remove did not return")
	}
	if infos := s.Children(); len(infos) != 0 {
		t.Errorf("Children() = %+v, want the child removed anyway", infos)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRemoveDuringBackoffIsImmediate(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk), WithBackoff(Backoff{Initial: time.Hour}))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	c.next(t).fail(t, errBoom)
	blockUntilWaiting(t, clk, 1)
	if err := s.Remove("c"); err != nil {
		t.Errorf("Remove: %v", err)
	}
	settle(s)
	if n := clk.Waiters(); n != 0 {
		t.Errorf("%d timers active, want the backoff timer stopped", n)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRemoveUnknownChildReturnsErrNotFound(t *testing.T) {
	s := New("root")
	if err := s.Remove("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove before Run = %v, want ErrNotFound", err)
	}
	r := runInBackground(t, s)
	if err := s.Remove("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove during Run = %v, want ErrNotFound", err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestAddRejectsInvalidSpec(t *testing.T) {
	child := newScripted("c")
	tests := []struct {
		name string
		spec Spec
		want error
	}{
		{"nil child", Spec{Name: "c"}, ErrInvalidSpec},
		{"empty name", Spec{Child: child}, ErrInvalidSpec},
		{"slash in name", Spec{Name: "a/b", Child: child}, ErrInvalidSpec},
		{"unknown restart", Spec{Name: "c", Child: child, Restart: Restart(7)}, ErrInvalidSpec},
		{"significant permanent", Spec{Name: "c", Child: child, Significant: true}, ErrInvalidSpec},
		{"backoff max below initial", Spec{Name: "c", Child: child, Backoff: &Backoff{Initial: time.Second, Max: time.Millisecond}}, ErrInvalidSpec},
		{"backoff multiplier below one", Spec{Name: "c", Child: child, Backoff: &Backoff{Multiplier: 0.5}}, ErrInvalidSpec},
		{"backoff jitter above one", Spec{Name: "c", Child: child, Backoff: &Backoff{Jitter: 1.5}}, ErrInvalidSpec},
		{"duplicate name", Spec{Name: "taken", Child: child}, ErrDuplicateName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("root")
			mustAdd(t, s, Spec{Name: "taken", Child: child})
			if err := s.Add(tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("Add(%+v) = %v, want %v", tt.spec, err, tt.want)
			}
		})
	}
}

func TestInvalidOptionFailsRunAndAdd(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"strategy", WithStrategy(Strategy(9))},
		{"negative max restarts", WithIntensity(-1, time.Second)},
		{"zero period", WithIntensity(1, 0)},
		{"backoff", WithBackoff(Backoff{Max: -time.Second})},
		{"auto shutdown", WithAutoShutdown(AutoShutdown(5))},
		{"shutdown timeout", WithShutdownTimeout(0)},
		{"nil clock", WithClock(nil)},
		{"nil hook", WithHook(nil)},
		{"event buffer", WithEventBuffer(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("root", tt.opt)
			if err := s.Run(context.Background()); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Run = %v, want ErrInvalidOption", err)
			}
			if err := s.Add(Spec{Name: "c", Child: newScripted("c")}); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Add = %v, want ErrInvalidOption", err)
			}
		})
	}
}

func TestRunWhileRunningReturnsErrAlreadyRunning(t *testing.T) {
	s := New("root")
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)
	c.next(t)

	if err := s.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRunAgainStartsEveryChildAfresh(t *testing.T) {
	s := New("root", WithBackoff(noBackoff))
	perm, temp := newScripted("perm"), newScripted("temp")
	mustAdd(t, s, Spec{Name: "perm", Child: perm})
	mustAdd(t, s, Spec{Name: "temp", Child: temp, Restart: Temporary})

	first := runInBackground(t, s)
	perm.next(t).fail(t, errBoom)
	perm.next(t)
	temp.next(t)
	if err := first.stop(t); err != nil {
		t.Fatalf("first Run returned %v, want nil", err)
	}

	second := runInBackground(t, s)
	perm.next(t)
	infos := s.Children()
	if len(infos) != 1 || infos[0].Name != "perm" || infos[0].Starts != 1 {
		t.Errorf("Children() = %+v, want only perm, started once in this run", infos)
	}
	temp.idle(t)
	if err := second.stop(t); err != nil {
		t.Errorf("second Run returned %v, want nil", err)
	}
}

func TestRunWithDoneContextStartsNothing(t *testing.T) {
	s := New("root")
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	c.idle(t)
}
