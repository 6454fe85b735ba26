package danube

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Backoff configures the exponential backoff between retries: the first
// wait is Initial, each next one Multiplier times longer up to Max, each
// randomised by ±Jitter (a fraction below 1). Zero fields take the
// defaults: 200 ms, ×2, 5 s and 0.5 (the base and cap are those of the
// broker's own clients). A negative Jitter turns randomisation off.
type Backoff struct {
	// Initial is the wait before the first retry. 0 or less means 200 ms.
	Initial time.Duration
	// Max caps every wait. 0 or less means 5 s, and a Max below Initial
	// is raised to Initial.
	Max time.Duration
	// Multiplier is the factor from each wait to the next. Below 1 means
	// 2.
	Multiplier float64
	// Jitter is the fraction by which each wait varies at random either
	// way. 0, or 1 and above, mean 0.5, and a negative value turns the
	// randomisation off.
	Jitter float64
}

// MaxBackoff is the longest Initial or Max wait that WithBackoff accepts.
// Longer waits are more likely a unit mistake than a wish, and with jitter
// they would overflow time.Duration.
const MaxBackoff = time.Hour

func (b Backoff) validate() error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"Initial", b.Initial}, {"Max", b.Max}} {
		if d.value > MaxBackoff {
			return fmt.Errorf("invalid Backoff.%s %v: the longest accepted wait is %v", d.name, d.value, MaxBackoff)
		}
	}
	if math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || b.Multiplier > 100 {
		return fmt.Errorf("invalid Backoff.Multiplier %v: want a finite number up to 100", b.Multiplier)
	}
	if math.IsNaN(b.Jitter) || math.IsInf(b.Jitter, 0) {
		return fmt.Errorf("invalid Backoff.Jitter %v: want a finite number", b.Jitter)
	}
	return nil
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	switch {
	case b.Jitter < 0:
		b.Jitter = 0
	case b.Jitter == 0 || b.Jitter >= 1:
		b.Jitter = 0.5
	}
	return b
}

// retrier waits between the attempts of one retried operation, on the
// injected clock. It never gives up by itself: the caller's context, a
// stop channel or the caller's own count bound the retries.
type retrier struct {
	clk clock.Clock
	bo  *backoff.ExponentialBackOff
}

type backoffClock struct{ c clock.Clock }

func (b backoffClock) Now() time.Time { return b.c.Now() }

func newRetrier(clk clock.Clock, cfg Backoff) *retrier {
	cfg = cfg.withDefaults()
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(cfg.Initial),
		backoff.WithMaxInterval(cfg.Max),
		backoff.WithMultiplier(cfg.Multiplier),
		backoff.WithRandomizationFactor(cfg.Jitter),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(backoffClock{clk}),
	)
	return &retrier{clk: clk, bo: bo}
}

// reset starts the backoff sequence again after a success.
func (r *retrier) reset() { r.bo.Reset() }

// wait sleeps for the next backoff interval. It returns ctx's error when
// ctx ends first, or stop's cause error when stop is closed first (stop may
// be nil).
func (r *retrier) wait(ctx context.Context, stop <-chan struct{}) error {
	d := r.bo.NextBackOff()
	t := r.clk.NewTimer(d)
	defer t.Stop()

	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}
