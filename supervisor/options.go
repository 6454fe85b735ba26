package supervisor

import (
	"fmt"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Defaults of New, used unless an option sets another value.
const (
	// DefaultMaxRestarts and DefaultPeriod form the default intensity
	// limit. OTP's default (intensity 1, period 5 s, per the documentation
	// of Erlang/OTP's supervisor module) assumes restarts without delay.
	// With the default backoff, the restarts of a child that
	// fails at once on every start are spread out (0.1 s, 0.2 s, ... up to
	// 10 s apart), so the limit counts more restarts over a longer period.
	// Such a child makes its supervisor give up after 42.7 seconds without
	// jitter (34 to 45 with the default jitter), and the supervisor's
	// parent then restarts the whole subtree.
	DefaultMaxRestarts = 10
	DefaultPeriod      = time.Minute

	// DefaultShutdownTimeout is OTP's default for a worker: long enough to
	// flush a batch, short enough that a stuck child does not hold up a
	// deployment.
	DefaultShutdownTimeout = 5 * time.Second

	// DefaultEventBuffer is how many events may wait for slow hooks before
	// new ones are dropped.
	DefaultEventBuffer = 1024
)

// Option configures a Supervisor in New.
type Option func(*config)

type config struct {
	strategy        Strategy
	maxRestarts     int
	period          time.Duration
	backoff         Backoff
	autoShutdown    AutoShutdown
	shutdownTimeout time.Duration
	clock           clock.Clock // nil means the parent's, or the real one
	hooks           []func(Event)
	passPanics      bool
	eventBuffer     int
	errs            []error
}

func defaultConfig() config {
	return config{
		strategy:        OneForOne,
		maxRestarts:     DefaultMaxRestarts,
		period:          DefaultPeriod,
		backoff:         Backoff{}.withDefaults(),
		shutdownTimeout: DefaultShutdownTimeout,
		eventBuffer:     DefaultEventBuffer,
	}
}

func (c *config) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// WithStrategy sets which children are restarted when one fails. The
// default is OneForOne.
func WithStrategy(s Strategy) Option {
	return func(c *config) {
		if !s.valid() {
			c.invalid("WithStrategy: unknown strategy %v", s)
			return
		}
		c.strategy = s
	}
}

// WithIntensity sets the restart intensity: when restarting a child would
// make more than maxRestarts restarts within period, the supervisor stops
// all its children and Run returns an *IntensityError, so that its parent
// deals with the failure. A maxRestarts of 0 gives up at the first
// failure that needs a restart. Each failure counts once, however many
// siblings its strategy restarts with it. The default is DefaultMaxRestarts
// within DefaultPeriod.
func WithIntensity(maxRestarts int, period time.Duration) Option {
	return func(c *config) {
		if maxRestarts < 0 {
			c.invalid("WithIntensity: maxRestarts %d is negative", maxRestarts)
			return
		}
		if period <= 0 {
			c.invalid("WithIntensity: period %v is not positive", period)
			return
		}
		c.maxRestarts, c.period = maxRestarts, period
	}
}

// WithBackoff sets the backoff of children whose Spec.Backoff is nil. Zero
// fields of b take the defaults documented on Backoff.
func WithBackoff(b Backoff) Option {
	return func(c *config) {
		if err := b.validate(); err != nil {
			c.invalid("WithBackoff: %w", err)
			return
		}
		c.backoff = b.withDefaults()
	}
}

// WithAutoShutdown sets whether the supervisor stops by itself when its
// significant children end. The default is Never.
func WithAutoShutdown(a AutoShutdown) Option {
	return func(c *config) {
		if !a.valid() {
			c.invalid("WithAutoShutdown: unknown setting %v", a)
			return
		}
		c.autoShutdown = a
	}
}

// WithShutdownTimeout sets the shutdown timeout of children whose
// Spec.ShutdownTimeout is zero. It must be positive. The default is
// DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithShutdownTimeout: %v is not positive", d)
			return
		}
		c.shutdownTimeout = d
	}
}

// WithClock sets the clock for backoff delays, the intensity period and
// shutdown timeouts; tests pass a *clock.Fake. Without it, a supervisor
// nested in another uses its parent's clock and a root supervisor uses the
// real one.
func WithClock(clk clock.Clock) Option {
	return func(c *config) {
		if clk == nil {
			c.invalid("WithClock: nil clock")
			return
		}
		c.clock = clk
	}
}

// WithHook adds a function to call with every event of this supervisor and
// of the supervisors nested in it. It may be given several times; hooks
// are called in the order given.
//
// Hooks never hold up the supervisor: events go to a bounded queue (see
// WithEventBuffer), and one goroutine, started when events arrive and gone
// when the queue is empty, calls the hooks one event at a time. When the
// queue is full new events are dropped and counted, and an EventsDropped
// event reports the count once there is room again. A hook that panics
// loses that event and the panic is swallowed. Events emitted just before
// Run returns may be delivered after it returned.
func WithHook(h func(Event)) Option {
	return func(c *config) {
		if h == nil {
			c.invalid("WithHook: nil hook")
			return
		}
		c.hooks = append(c.hooks, h)
	}
}

// WithPanicPassThrough stops the supervisor from recovering its children's
// panics: a panic in a child crashes the program, as it would in a plain
// goroutine. Use it where a crash and a core dump are preferred to a
// restart. Supervisors nested in this one decide for themselves.
func WithPanicPassThrough() Option {
	return func(c *config) { c.passPanics = true }
}

// WithEventBuffer sets how many events may wait for the hooks before new
// ones are dropped. It must be positive. The default is DefaultEventBuffer.
func WithEventBuffer(n int) Option {
	return func(c *config) {
		if n <= 0 {
			c.invalid("WithEventBuffer: %d is not positive", n)
			return
		}
		c.eventBuffer = n
	}
}
