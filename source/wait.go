package source

import (
	"context"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// sleep waits d on clk, or until ctx is done, when it returns ctx's error.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withTimeout returns a child of ctx that is cancelled once d has passed
// on clk, and the function that releases it.
func withTimeout(ctx context.Context, clk clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if clk == clock.Real() {
		return context.WithTimeout(ctx, d)
	}

	// Another clock has timers but no callbacks: a goroutine waits for the
	// timer for as long as the context lives.
	child, cancel := context.WithCancelCause(ctx)
	timer := clk.NewTimer(d)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-timer.C():
			cancel(context.DeadlineExceeded)
		case <-child.Done():
		}
	})
	return child, func() {
		cancel(context.Canceled)
		timer.Stop()
		wg.Wait()
	}
}

// backoffWait returns the wait before retry number n (from 1): initial,
// doubling with each retry, capped at maxRetryBackoff.
func backoffWait(initial time.Duration, n int) time.Duration {
	d := initial
	for i := 1; i < n && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, max(maxRetryBackoff, initial))
}
