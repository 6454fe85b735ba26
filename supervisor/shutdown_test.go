package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestShutdownStopsInReverseStartOrder(t *testing.T) {
	var mu sync.Mutex
	var log []string
	note := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }

	s := New("root")
	started := make(chan struct{}, 5)
	for i := range 5 {
		name := fmt.Sprint("c", i)
		mustAdd(t, s, Spec{Name: name, Child: ChildFunc(func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			note("stop " + name)
			note("return " + name)
			return ctx.Err()
		})})
	}
	r := runInBackground(t, s)
	for range 5 {
		<-started
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}

	// Were the children stopped together, their notes would interleave.
	var want []string
	for i := 4; i >= 0; i-- {
		want = append(want, fmt.Sprint("stop c", i), fmt.Sprint("return c", i))
	}
	if !slices.Equal(log, want) {
		t.Errorf("stop order:\n got %q\nwant %q", log, want)
	}
}

func TestNormalStopLeaksNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	rec := newRecorder()
	root := New("root", WithHook(rec.hook))
	nested := New("nested")
	for i := range 10 {
		mustAdd(t, nested, Spec{Name: fmt.Sprint("c", i), Child: newScripted("c")})
		mustAdd(t, root, Spec{Name: fmt.Sprint("c", i), Child: newScripted("c")})
	}
	mustAdd(t, root, Spec{Child: nested})
	r := runInBackground(t, root)
	rec.waitFor(t, EventChildStarted, "root/nested/c9")

	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestStopDuringBackoffReturnsAtOnce(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk), WithBackoff(Backoff{Initial: time.Hour, Jitter: -1}))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	c.next(t).fail(t, errBoom)
	blockUntilWaiting(t, clk, 1)
	start := clk.Now()
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if clk.Now() != start {
		t.Errorf("fake clock moved to %v, want Run to return without it", clk.Now())
	}
	if n := clk.Waiters(); n != 0 {
		t.Errorf("%d timers still active after Run returned, want 0", n)
	}
	c.idle(t)
}

func TestStopNamesChildThatHangsPastTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	clk := clock.NewFake(time.Time{})
	rec := newRecorder()
	root := New("root", WithClock(clk), WithHook(rec.hook))
	sink := New("sink")
	write, flush := newScripted("write"), newScripted("flush")
	mustAdd(t, sink, Spec{Name: "flush", Child: flush})
	mustAdd(t, sink, Spec{Name: "write", Child: write, ShutdownTimeout: 2 * time.Second})
	mustAdd(t, root, Spec{Child: sink})
	r := runInBackground(t, root)

	f := flush.next(t)
	release := make(chan struct{})
	hung := write.next(t)
	hung.hang(t, release)

	r.cancel()
	blockUntilWaiting(t, clk, 1)
	if d := nextDelay(t, clk); d != 2*time.Second {
		t.Errorf("stop deadline in %v, want the child's 2s timeout", d)
	}
	if f.ctx.Err() != nil {
		t.Error("flush was stopped before write, want reverse start order")
	}
	if r.returned() {
		t.Fatal("Run returned before the hanging child's timeout")
	}

	clk.Advance(2 * time.Second)
	if err := r.wait(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	ev := rec.waitFor(t, EventStopTimedOut, "root/sink/write").(StopTimedOut)
	if ev.Timeout != 2*time.Second {
		t.Errorf("StopTimedOut.Timeout = %v, want 2s", ev.Timeout)
	}
	if !errors.Is(context.Cause(f.ctx), ErrShutdown) {
		t.Errorf("flush stopped with cause %v, want ErrShutdown", context.Cause(f.ctx))
	}

	// The instance left behind ends once it returns; goleak checks that
	// nothing of the supervisor waits for it.
	close(release)
	hung.wait(t)
}
