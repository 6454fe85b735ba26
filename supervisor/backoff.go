package supervisor

import (
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Defaults of Backoff, used for each field left at zero.
//
// OTP restarts a child at once, which is right for a process that crashed
// on a bad message but turns a dead database into a busy loop. These
// defaults retry a passing glitch (a dropped connection) almost at once,
// back off to one attempt every ten seconds when the fault lasts, and
// spread restarts by ±20% so that siblings that failed together do not all
// come back against the same server in the same instant.
const (
	DefaultBackoffInitial    = 100 * time.Millisecond
	DefaultBackoffMax        = 10 * time.Second
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffJitter     = 0.2
	// DefaultBackoffResetAfter is three times DefaultBackoffMax, so that a
	// child that fails soon after each restart keeps backing off.
	DefaultBackoffResetAfter = 30 * time.Second
)

// Backoff sets the delay before each restart of a child that failed: the
// n-th consecutive restart waits Initial × Multiplier^(n-1), multiplied by
// a random factor in [1-Jitter, 1+Jitter] and capped at Max. A child that
// ran for at least ResetAfter before it failed starts again from Initial.
//
// Every zero field takes its Default value (DefaultBackoffInitial and the
// others). A negative Initial disables backoff, so the child restarts at
// once as in OTP, and a negative Jitter disables the random factor, which
// makes delays exact. The intensity limit (WithIntensity) applies on top:
// backoff spaces restarts, intensity decides when to give up.
type Backoff struct {
	// Initial is the delay before the first restart.
	Initial time.Duration
	// Max caps every delay, jitter included.
	Max time.Duration
	// Multiplier is the growth factor from one delay to the next, at
	// least 1.
	Multiplier float64
	// Jitter is the randomization factor, between 0 and 1.
	Jitter float64
	// ResetAfter is how long a child must run before a failure counts as a
	// new first failure again.
	ResetAfter time.Duration
}

// withDefaults returns b with every zero field set to its default.
func (b Backoff) withDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max == 0 {
		b.Max = max(DefaultBackoffMax, b.Initial)
	}
	if b.Multiplier == 0 {
		b.Multiplier = DefaultBackoffMultiplier
	}
	if b.Jitter == 0 {
		b.Jitter = DefaultBackoffJitter
	}
	if b.ResetAfter == 0 {
		b.ResetAfter = DefaultBackoffResetAfter
	}
	return b
}

func (b Backoff) validate() error {
	var errs []error
	if b.Max < 0 {
		errs = append(errs, fmt.Errorf("backoff Max %v is negative", b.Max))
	}
	if b.Max > 0 && b.Initial > b.Max {
		errs = append(errs, fmt.Errorf("backoff Initial %v is greater than Max %v", b.Initial, b.Max))
	}
	if b.Multiplier < 0 || (b.Multiplier > 0 && b.Multiplier < 1) {
		errs = append(errs, fmt.Errorf("backoff Multiplier %v is less than 1", b.Multiplier))
	}
	if b.Jitter > 1 {
		errs = append(errs, fmt.Errorf("backoff Jitter %v is greater than 1", b.Jitter))
	}
	if b.ResetAfter < 0 {
		errs = append(errs, fmt.Errorf("backoff ResetAfter %v is negative", b.ResetAfter))
	}
	return errors.Join(errs...)
}

// retryDelays computes the restart delays of one child. It is used only by
// its supervisor's goroutine.
type retryDelays struct {
	cfg Backoff
	// exp is nil when backoff is disabled.
	exp *backoff.ExponentialBackOff
	// attempt counts the restarts since the last reset.
	attempt int
}

// newRetryDelays returns the delays for cfg, whose defaults must be set.
func newRetryDelays(cfg Backoff, clk clock.Clock) *retryDelays {
	d := &retryDelays{cfg: cfg}
	if cfg.Initial < 0 {
		return d
	}

	// MaxElapsedTime 0 makes the sequence endless: giving up is the
	// intensity limit's decision, not the backoff's.
	d.exp = &backoff.ExponentialBackOff{
		InitialInterval:     cfg.Initial,
		RandomizationFactor: max(cfg.Jitter, 0),
		Multiplier:          cfg.Multiplier,
		MaxInterval:         cfg.Max,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               clk,
	}
	d.exp.Reset()
	return d
}

// next returns the delay before the next restart and counts the attempt.
func (d *retryDelays) next() time.Duration {
	d.attempt++
	if d.exp == nil {
		return 0
	}

	// The library caps the interval before it applies the random factor,
	// so a delay at the cap could exceed Max by the jitter; cap it again.
	return min(d.exp.NextBackOff(), d.cfg.Max)
}

// observeRun resets the sequence if the child ran for at least ResetAfter.
func (d *retryDelays) observeRun(ran time.Duration) {
	if ran < d.cfg.ResetAfter {
		return
	}
	d.attempt = 0
	if d.exp != nil {
		d.exp.Reset()
	}
}
