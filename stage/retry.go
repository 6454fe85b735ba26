package stage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Defaults of RetryPolicy, used for each field left at zero.
const (
	DefaultRetryMaxAttempts = 5
	DefaultRetryInitial     = 100 * time.Millisecond
	DefaultRetryMax         = 10 * time.Second
	DefaultRetryMultiplier  = 2.0
	DefaultRetryJitter      = 0.2
)

// RetryPolicy sets how the write stage retries a batch, or the part of a
// batch, that failed with an error other than Permanent, Redeliver or
// Fatal. The n-th retry waits Initial × Multiplier^(n-1), multiplied by a
// random factor in [1-Jitter, 1+Jitter] and capped at Max, on the
// pipeline's clock. When the attempts are used up, or MaxElapsed has
// passed, the messages still failing are nacked with Options.NackDelay.
// They are nacked too when the pipeline is draining and the wait before
// the next retry would end after the drain's graceful phase (see
// Pipeline.Run).
//
// The zero value of every field means the default documented on it.
type RetryPolicy struct {
	// MaxAttempts is the most attempts to write a message, the first one
	// included, DefaultRetryMaxAttempts by default. A negative value sets
	// no limit: the stage retries until the write succeeds or the
	// pipeline drains.
	MaxAttempts int
	// AttemptTimeout bounds each attempt: Write gets a fresh context for
	// every attempt, cancelled with ErrAttemptTimeout after this long on
	// the pipeline's clock. With the default, 0, Write gets the stage's
	// own context, with no bound beyond it. On the real clock the
	// context's Deadline reports the bound. On any other clock, such as a
	// test's fake one, Deadline does not report it, because a client
	// library would read that deadline as wall time, but the context is
	// still cancelled when the clock reaches it.
	AttemptTimeout time.Duration
	// Initial is the wait before the first retry, DefaultRetryInitial by
	// default. A negative value retries at once, every time.
	Initial time.Duration
	// Max caps every wait, DefaultRetryMax by default.
	Max time.Duration
	// Multiplier is the growth of the wait from one retry to the next, at
	// least 1, DefaultRetryMultiplier by default.
	Multiplier float64
	// Jitter is the random factor's spread, at most 1, DefaultRetryJitter
	// by default. A negative value makes the waits exact.
	Jitter float64
	// MaxElapsed bounds the time spent retrying one batch, waits and
	// attempts included. The default, 0, sets no bound beyond MaxAttempts.
	MaxElapsed time.Duration
}

func (r RetryPolicy) withDefaults() (RetryPolicy, error) {
	var errs []error
	if r.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("AttemptTimeout %v is negative", r.AttemptTimeout))
	}
	if r.Max < 0 {
		errs = append(errs, fmt.Errorf("max wait %v is negative", r.Max))
	}
	if r.Multiplier != 0 && r.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("multiplier %v is less than 1", r.Multiplier))
	}
	if r.Jitter > 1 {
		errs = append(errs, fmt.Errorf("jitter %v is greater than 1", r.Jitter))
	}
	if r.MaxElapsed < 0 {
		errs = append(errs, fmt.Errorf("MaxElapsed %v is negative", r.MaxElapsed))
	}
	if len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultRetryMaxAttempts
	}
	if r.Initial == 0 {
		r.Initial = DefaultRetryInitial
	}
	if r.Max == 0 {
		r.Max = max(DefaultRetryMax, r.Initial)
	}
	if r.Multiplier == 0 {
		r.Multiplier = DefaultRetryMultiplier
	}
	if r.Jitter == 0 {
		r.Jitter = DefaultRetryJitter
	}
	return r, nil
}

// exhausted reports whether a message written attempts times gets no more
// attempts.
func (r RetryPolicy) exhausted(attempts int) bool {
	return r.MaxAttempts > 0 && attempts >= r.MaxAttempts
}

// newBackOff returns the sequence of waits for the retries of a batch,
// started. A write stage makes one and calls Reset for each batch.
func (r RetryPolicy) newBackOff(clk clock.Clock) backoff.BackOff {
	if r.Initial < 0 {
		return &backoff.ZeroBackOff{}
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.Initial,
		RandomizationFactor: max(r.Jitter, 0),
		Multiplier:          r.Multiplier,
		MaxInterval:         r.Max,
		MaxElapsedTime:      r.MaxElapsed,
		Stop:                backoff.Stop,
		Clock:               clk,
	}
	b.Reset()
	return b
}

// attemptContext returns the context of one write attempt: a fresh child of
// ctx, cancelled with ErrAttemptTimeout once timeout has passed on clk, and
// the function that releases it. A timeout of 0 sets no bound, so the
// attempt gets ctx itself: a child would cost two allocations per attempt and
// add nothing, because ctx already ends when the stage stops or the drain
// is forced.
//
// On a clock other than the real one, the timeout is enforced on that clock
// but not reported by Deadline, which returns ctx's deadline, if any. A
// writer's client library reads Deadline as wall time (gRPC sends it to the
// server and fails the call at once when it has passed), and a deadline on
// a fake clock is no wall time.
func attemptContext(ctx context.Context, clk clock.Clock, timeout time.Duration) (context.Context, func()) {
	if timeout <= 0 {
		return ctx, releaseNothing
	}
	if clk == clock.Real() {
		actx, cancel := context.WithTimeoutCause(ctx, timeout, ErrAttemptTimeout)
		return actx, cancel
	}

	// Another clock has timers but no callbacks: a goroutine waits for the
	// timer, for as long as the attempt lasts.
	actx, cancel := context.WithCancelCause(ctx)
	timer := clk.NewTimer(timeout)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-timer.C():
			cancel(ErrAttemptTimeout)
		case <-actx.Done():
		}
	})
	release := func() {
		cancel(context.Canceled)
		timer.Stop()
		wg.Wait()
	}
	return actx, release
}

// releaseNothing is the release function of an attempt that has no
// context of its own.
func releaseNothing() {}
