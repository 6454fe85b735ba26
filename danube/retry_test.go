package danube

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// waitResult starts r.wait on its own goroutine and returns its outcome.
func waitResult(ctx context.Context, r *retrier, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.wait(ctx, stop) }()
	return done
}

func TestRetrierWaitsGrowingIntervalsOnClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	r := newRetrier(clk, Backoff{Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond, Jitter: -1})
	ctx := context.Background()

	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond} {
		start := clk.Now()
		done := waitResult(ctx, r, nil)
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		deadline, ok := clk.NextDeadline()
		if !ok {
			t.Fatalf("wait %d: no timer", i)
		}
		if got := deadline.Sub(start); got != want {
			t.Fatalf("wait %d: interval %v, want %v", i, got, want)
		}
		clk.Advance(want - time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("wait %d returned %v before its interval passed", i, err)
		default:
		}
		clk.Advance(time.Millisecond)
		if err := <-done; err != nil {
			t.Fatalf("wait %d = %v", i, err)
		}
	}

	r.reset()
	start := clk.Now()
	done := waitResult(ctx, r, nil)
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	deadline, _ := clk.NextDeadline()
	if got := deadline.Sub(start); got != 100*time.Millisecond {
		t.Fatalf("after reset: interval %v, want 100ms", got)
	}
	clk.Advance(100 * time.Millisecond)
	<-done
}

func TestRetrierWaitEndsWithContext(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	r := newRetrier(clk, Backoff{})
	ctx, cancel := context.WithCancel(context.Background())
	done := waitResult(ctx, r, nil)
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v, want context.Canceled", err)
	}
}

func TestRetrierWaitEndsWithStop(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	r := newRetrier(clk, Backoff{})
	stop := make(chan struct{})
	done := waitResult(context.Background(), r, stop)
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait = %v, want ErrClosed", err)
	}
}

func TestBackoffDefaults(t *testing.T) {
	got := Backoff{}.withDefaults()
	want := Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.5}
	if got != want {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	if j := (Backoff{Jitter: -1}).withDefaults().Jitter; j != 0 {
		t.Fatalf("negative jitter gave %v, want 0 (off)", j)
	}
}

func TestWithBackoffRefusesWaitsThatOverflow(t *testing.T) {
	for name, b := range map[string]Backoff{
		"Initial":    {Initial: 200 * 24 * time.Hour},
		"Max":        {Max: time.Duration(math.MaxInt64)},
		"Multiplier": {Multiplier: math.Inf(1)},
		"Jitter":     {Jitter: math.NaN()},
	} {
		var c config
		err := WithBackoff(b)(&c)
		if err == nil || !strings.Contains(err.Error(), "Backoff."+name) {
			t.Errorf("WithBackoff(%+v) = %v, want an error naming Backoff.%s", b, err, name)
		}
	}

	// The longest accepted waits, with full jitter, stay positive.
	var c config
	longest := Backoff{Initial: MaxBackoff, Max: MaxBackoff, Multiplier: 100, Jitter: 0.99}
	if err := WithBackoff(longest)(&c); err != nil {
		t.Fatalf("WithBackoff(%+v) = %v", longest, err)
	}
	r := newRetrier(clock.Real(), c.backoff)
	for i := range 20 {
		if d := r.bo.NextBackOff(); d <= 0 || d > 2*MaxBackoff {
			t.Fatalf("wait %d = %v, want within (0, %v]", i, d, 2*MaxBackoff)
		}
	}
}
