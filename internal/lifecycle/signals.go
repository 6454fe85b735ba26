package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Defaults of Options, used for each field left at zero.
const (
	// DefaultDrainTimeout bounds the drain that the first signal starts.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultForceTimeout is how long RunWithSignals waits for the service
	// to return once it forced it.
	DefaultForceTimeout = 5 * time.Second
)

var (
	// ErrForced is matched by the *ForcedError that RunWithSignals returns
	// when a second signal ended the drain.
	ErrForced = errors.New("drain forced by a second signal")
	// ErrDrainTimeout is wrapped by the error RunWithSignals returns when
	// the service had not returned by the drain deadline.
	ErrDrainTimeout = errors.New("drain deadline passed")
	// ErrStopTimeout is wrapped by the error RunWithSignals returns when
	// the service had still not returned ForceTimeout after Force. Its
	// goroutine is left behind, and the process should exit.
	ErrStopTimeout = errors.New("service did not return after it was forced")
)

// SignalError is the cause with which RunWithSignals cancels the
// service's context on the first signal; read it with context.Cause.
type SignalError struct {
	// Signal is the signal received, one of Options.Signals.
	Signal os.Signal
}

func (e *SignalError) Error() string { return "received " + signalName(e.Signal) }

// ForcedError is what RunWithSignals returns when a second signal forced
// the drain. It matches ErrForced and unwraps to the service's error.
type ForcedError struct {
	// Signal is the second signal.
	Signal os.Signal
	// Err is what the service's Run returned once forced, nil if it did
	// not return within ForceTimeout (see ErrStopTimeout).
	Err error
}

func (e *ForcedError) Error() string {
	msg := fmt.Sprintf("%v: %s", ErrForced, signalName(e.Signal))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrForced.
func (e *ForcedError) Is(target error) bool { return target == ErrForced }

// Unwrap returns the service's error.
func (e *ForcedError) Unwrap() error { return e.Err }

// Service is what RunWithSignals runs: a connector runtime, or any
// function through ServiceFunc.
type Service interface {
	// Run works until ctx is done, then drains what it holds and returns:
	// nil, or ctx's error, after a clean drain.
	Run(ctx context.Context) error
}

// Forcer is implemented by a service that can cut its drain short.
// RunWithSignals calls Force on the second signal, and when the drain
// deadline passes.
type Forcer interface {
	// Force makes a Run that is draining settle what it holds at once (a
	// connector nacks what it did not write) and return. It must not
	// block, and it may be called while Run has not started or has
	// returned.
	Force()
}

// ServiceFunc adapts a function to Service. It has no Force: a second
// signal only stops waiting for it.
type ServiceFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f ServiceFunc) Run(ctx context.Context) error { return f(ctx) }

// Options configures RunWithSignals. The zero value of each field means
// the default documented on it.
type Options struct {
	// DrainTimeout bounds the drain that the first signal starts,
	// DefaultDrainTimeout by default. Give the service the same timeout,
	// so that it forces its own drain in time; RunWithSignals forces it
	// only as a backstop, once DrainTimeout and DrainMargin have passed.
	DrainTimeout time.Duration
	// DrainMargin is the time beyond DrainTimeout that RunWithSignals
	// waits before it forces the service, for what the service does after
	// its own drain deadline, such as closing its clients. 0 means none.
	// The log lines of the stop show both, as drain_timeout and
	// force_stop_after (their sum).
	DrainMargin time.Duration
	// ForceTimeout is how long RunWithSignals waits for Run to return
	// after it called Force, DefaultForceTimeout by default.
	ForceTimeout time.Duration
	// Signals are the signals that stop the service, SIGTERM and SIGINT
	// by default.
	Signals []os.Signal
	// Logger receives one line per signal and per deadline; nil means
	// slog.Default().
	Logger *slog.Logger
	// Clock times the deadlines, the real clock by default.
	Clock clock.Clock

	// notify replaces signal.Notify and signal.Stop in tests.
	notify func(c chan<- os.Signal, sigs ...os.Signal)
	stop   func(c chan<- os.Signal)
}

func (o Options) withDefaults() Options {
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.DrainMargin < 0 {
		o.DrainMargin = 0
	}
	if o.ForceTimeout <= 0 {
		o.ForceTimeout = DefaultForceTimeout
	}
	if len(o.Signals) == 0 {
		o.Signals = []os.Signal{syscall.SIGTERM, os.Interrupt}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.notify == nil {
		o.notify, o.stop = signal.Notify, signal.Stop
	}
	return o
}

// RunWithSignals runs svc until it returns by itself, or until a signal
// (SIGTERM or SIGINT) or the end of ctx stops it:
//
//   - The first signal, or ctx ending, cancels the context given to
//     svc.Run, with a *SignalError as its cause for a signal. The service
//     drains, and RunWithSignals returns what Run returns, with nil for a
//     context.Canceled from a clean drain.
//   - A second signal during the drain calls svc.Force, if svc is a
//     Forcer, waits up to ForceTimeout for Run to return, and returns a
//     *ForcedError.
//   - If Run has not returned once DrainTimeout plus DrainMargin has
//     passed since the stop began, RunWithSignals forces it the same way
//     and returns an error wrapping ErrDrainTimeout.
//
// When RunWithSignals returns, Run has returned, except after a force
// that Run ignored: then the error also wraps ErrStopTimeout and Run's
// goroutine is left behind. Signals are caught only while RunWithSignals
// runs. ExitCode turns its result into the process's exit status.
func RunWithSignals(ctx context.Context, svc Service, opts Options) error {
	o := opts.withDefaults()
	sigs := make(chan os.Signal, 2)
	o.notify(sigs, o.Signals...)
	defer o.stop(sigs)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()

	// Run until asked to stop.
	forceAfter := o.DrainTimeout + o.DrainMargin
	select {
	case err := <-done:
		return err
	case sig := <-sigs:
		o.Logger.Info("stopping: draining what is in flight; a second signal forces the stop",
			"signal", signalName(sig), "drain_timeout", o.DrainTimeout, "force_stop_after", forceAfter)
		cancel(&SignalError{Signal: sig})
	case <-ctx.Done():
		o.Logger.Info("stopping: draining what is in flight", "cause", context.Cause(ctx),
			"drain_timeout", o.DrainTimeout, "force_stop_after", forceAfter)
		cancel(context.Cause(ctx))
	}

	// Drain until done, forced, or out of time.
	deadline := o.Clock.NewTimer(forceAfter)
	defer deadline.Stop()
	select {
	case err := <-done:
		return drained(err)
	case sig := <-sigs:
		o.Logger.Warn("second signal: forcing the stop; messages not written are nacked and will be delivered again",
			"signal", signalName(sig))
		err, stuck := force(svc, done, o.Clock, o.ForceTimeout)
		ferr := &ForcedError{Signal: sig, Err: err}
		if stuck {
			return fmt.Errorf("%w: %w", ferr, ErrStopTimeout)
		}
		return ferr
	case <-deadline.C():
		o.Logger.Warn("drain deadline passed: forcing the stop; messages not written are nacked and will be delivered again",
			"drain_timeout", o.DrainTimeout, "force_stop_after", forceAfter)
		err, stuck := force(svc, done, o.Clock, o.ForceTimeout)
		if stuck {
			return fmt.Errorf("%w after %v: %w", ErrDrainTimeout, forceAfter, ErrStopTimeout)
		}
		if err != nil {
			return fmt.Errorf("%w after %v: %w", ErrDrainTimeout, forceAfter, err)
		}
		return fmt.Errorf("%w after %v", ErrDrainTimeout, forceAfter)
	}
}

// drained returns the result of a Run that returned after its context was
// cancelled: a context.Canceled is how many services report a clean stop.
func drained(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// force calls svc.Force and waits up to timeout for Run to return; stuck
// is true when it did not.
func force(svc Service, done <-chan error, clk clock.Clock, timeout time.Duration) (err error, stuck bool) {
	if f, ok := svc.(Forcer); ok {
		f.Force()
	}
	t := clk.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return drained(err), false
	case <-t.C():
		return nil, true
	}
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGTERM:
			return "SIGTERM"
		case syscall.SIGINT:
			return "SIGINT"
		case syscall.SIGHUP:
			return "SIGHUP"
		case syscall.SIGQUIT:
			return "SIGQUIT"
		}
	}
	return sig.String()
}
