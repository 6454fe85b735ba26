package supervisor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestPanicRestartsChildWithStackInEvent(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithBackoff(noBackoff), WithHook(rec.hook))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	c.next(t).panicWith(t, "kaboom")
	c.next(t)

	ev := rec.waitFor(t, EventChildPanicked, "root/c").(ChildPanicked)
	if ev.PanicValue != "kaboom" {
		t.Errorf("PanicValue = %v, want kaboom", ev.PanicValue)
	}
	if !bytes.Contains(ev.Stack, []byte("(*scripted).Run")) {
		t.Errorf("Stack does not contain the panicking child's frames:\n%s", ev.Stack)
	}
	if ev.Err == nil || ev.Err.Value != "kaboom" || ev.Err.Error() != "panic: kaboom" {
		t.Errorf("Err = %v, want a *PanicError for kaboom", ev.Err)
	}
	restarting := rec.waitFor(t, EventChildRestarting, "root/c").(ChildRestarting)
	var pe *PanicError
	if !errors.As(restarting.Err, &pe) {
		t.Errorf("ChildRestarting.Err = %v, want a *PanicError", restarting.Err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestPanicWithErrorUnwrapsToIt(t *testing.T) {
	rec := newRecorder()
	s := New("root", WithBackoff(noBackoff), WithHook(rec.hook))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	c.next(t).panicWith(t, errBoom)
	c.next(t)

	ev := rec.waitFor(t, EventChildPanicked, "root/c").(ChildPanicked)
	if !errors.Is(ev.Err, errBoom) {
		t.Errorf("errors.Is(%v, errBoom) = false, want true", ev.Err)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

// crashEnv makes the test binary, run again by
// TestPanicPassThroughCrashesProgram, play the crashing program.
const crashEnv = "SUPERVISOR_TEST_CRASH"

func TestPanicPassThroughCrashesProgram(t *testing.T) {
	if os.Getenv(crashEnv) == "1" {
		s := New("root", WithPanicPassThrough())
		_ = s.Add(Spec{Name: "c", Child: ChildFunc(func(context.Context) error {
			panicInChild()
			return nil
		})})
		_ = s.Run(context.Background())
		os.Exit(0) // not reached when the panic passes through
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicPassThroughCrashesProgram$")
	cmd.Env = append(os.Environ(), crashEnv+"=1")
	out, err := cmd.CombinedOutput()

	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
		t.Fatalf("program ended with %v, want a crash; output:\n%s", err, out)
	}
	for _, want := range []string{"panic: deliberate crash", "panicInChild"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("crash output lacks %q:\n%s", want, out)
		}
	}
}

func panicInChild() { panic("deliberate crash") }
