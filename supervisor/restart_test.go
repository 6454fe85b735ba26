package supervisor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestOneForOneRestartsOnlyFailedChild(t *testing.T) {
	s := New("root", WithBackoff(noBackoff))
	a, b := newScripted("a"), newScripted("b")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b})
	r := runInBackground(t, s)

	a1, b1 := a.next(t), b.next(t)
	a1.fail(t, errBoom)
	a2 := a.next(t)

	if err := a1.wait(t); err != errBoom {
		t.Errorf("first instance of a returned %v, want %v", err, errBoom)
	}
	if b1.ctx.Err() != nil {
		t.Errorf("b's context is done (%v), want b untouched", b1.ctx.Err())
	}
	b.idle(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if a2.ctx.Err() == nil || b1.ctx.Err() == nil {
		t.Error("children still running after Run returned")
	}
}

func mustAdd(t testing.TB, s *Supervisor, spec Spec) {
	t.Helper()
	if err := s.Add(spec); err != nil {
		t.Fatalf("Add(%q): %v", spec.Name, err)
	}
}

func TestRestartPolicyDecidesRestart(t *testing.T) {
	tests := []struct {
		name      string
		restart   Restart
		outcome   string // "nil", "error" or "panic"
		restarted bool
	}{
		{"permanent after nil", Permanent, "nil", true},
		{"permanent after error", Permanent, "error", true},
		{"permanent after panic", Permanent, "panic", true},
		{"transient after nil", Transient, "nil", false},
		{"transient after error", Transient, "error", true},
		{"transient after panic", Transient, "panic", true},
		{"temporary after nil", Temporary, "nil", false},
		{"temporary after error", Temporary, "error", false},
		{"temporary after panic", Temporary, "panic", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			s := New("root", WithBackoff(noBackoff), WithHook(rec.hook))
			c := newScripted("c")
			mustAdd(t, s, Spec{Name: "c", Child: c, Restart: tt.restart})
			r := runInBackground(t, s)

			in := c.next(t)
			var reported EventType
			switch tt.outcome {
			case "nil":
				in.succeed(t)
				reported = EventChildExited
			case "error":
				in.fail(t, errBoom)
				reported = EventChildFailed
			case "panic":
				in.panicWith(t, "boom")
				reported = EventChildPanicked
			}

			if tt.restarted {
				c.next(t)
			} else {
				rec.waitFor(t, reported, "root/c") // the loop has the exit
				infos := s.Children()
				switch tt.restart {
				case Temporary:
					if len(infos) != 0 {
						t.Errorf("Children() = %+v, want the temporary child removed", infos)
					}
				default:
					if len(infos) != 1 || infos[0].State != ChildEnded {
						t.Errorf("Children() = %+v, want the child ended", infos)
					}
				}
				c.idle(t)
			}
			if err := r.stop(t); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		})
	}
}

func TestWrappedContextErrorRestarts(t *testing.T) {
	for _, base := range []error{context.Canceled, context.DeadlineExceeded} {
		t.Run(base.Error(), func(t *testing.T) {
			rec := newRecorder()
			s := New("root", WithBackoff(noBackoff), WithHook(rec.hook))
			c := newScripted("c")
			mustAdd(t, s, Spec{Name: "c", Child: c, Restart: Transient})
			r := runInBackground(t, s)

			wrapped := fmt.Errorf("read from upstream: %w", base)
			c.next(t).fail(t, wrapped)
			c.next(t)

			ev := rec.waitFor(t, EventChildFailed, "root/c").(ChildFailed)
			if !errors.Is(ev.Err, base) {
				t.Errorf("ChildFailed.Err = %v, want it to wrap %v", ev.Err, base)
			}
			if err := r.stop(t); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		})
	}
}

func TestGoexitInChildIsFailure(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithBackoff(noBackoff), WithHook(rec.hook))
	var calls atomic.Int32
	mustAdd(t, s, Spec{Name: "c", Child: ChildFunc(func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			runtime.Goexit()
		}
		<-ctx.Done()
		return ctx.Err()
	})})
	r := runInBackground(t, s)

	ev := rec.waitFor(t, EventChildFailed, "root/c").(ChildFailed)
	if !errors.Is(ev.Err, errGoexit) {
		t.Errorf("ChildFailed.Err = %v, want errGoexit", ev.Err)
	}
	rec.waitFor(t, EventChildStarted, "root/c") // the restart
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}
