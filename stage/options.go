package stage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// Defaults of Options, used for each field left at zero.
const (
	// DefaultMaxInFlight bounds the messages admitted and not yet settled.
	// A reliable Danube subscription lets 10 messages go unacknowledged by
	// default, a window settable up to 10,000 (see danube.DispatchConfig),
	// so the broker is usually the tighter limit.
	DefaultMaxInFlight = 10_000
	// DefaultMaxInFlightBytes bounds the bytes of those messages.
	DefaultMaxInFlightBytes = 64 << 20
	// DefaultChunkSize is the most messages one channel send carries.
	DefaultChunkSize = 128
	// DefaultChannelCapacity is how many chunks wait between two stages.
	DefaultChannelCapacity = 4
	// DefaultDrainTimeout is how long Run takes at most to stop once its
	// context is done.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultForceShare is the share of DrainTimeout kept for the forced
	// phase of a drain.
	DefaultForceShare = 0.2
)

// Options configures a pipeline. The zero value of every field means the
// default documented on it.
type Options struct {
	// MaxInFlight bounds the messages admitted by the entry and not yet
	// settled, DefaultMaxInFlight by default. The entry waits for room,
	// so memory stays bounded however slow the stages after it are.
	MaxInFlight int

	// MaxInFlightBytes bounds the total size of those messages, as given
	// to NewMsg, DefaultMaxInFlightBytes by default. A message larger than
	// the limit is admitted when nothing else is in flight.
	MaxInFlightBytes int64

	// ChunkSize is the most messages that one channel send between two
	// stages carries, DefaultChunkSize by default.
	ChunkSize int

	// ChannelCapacity is how many chunks the channel between two stages
	// holds, DefaultChannelCapacity by default.
	ChannelCapacity int

	// DrainTimeout bounds how long Run takes to stop once its context is
	// done, DefaultDrainTimeout by default. See Pipeline.Run.
	DrainTimeout time.Duration

	// ForceShare is the share of DrainTimeout kept for the forced phase of
	// a drain, between 0 and 1 exclusive, DefaultForceShare by default.
	ForceShare float64

	// NackDelay is the redelivery delay of the nacks that the pipeline
	// itself makes: for messages left when a drain is forced, when the
	// supervisor gives up, when a stage panics, and when a write stage
	// exhausts its retries. The default is 0, redeliver at once.
	NackDelay time.Duration

	// Clock is the time source of batch timeouts, retries, attempt
	// timeouts and the drain deadline, the real clock by default; tests
	// pass a *clock.Fake. The supervisor is given the same clock unless
	// Supervisor sets another. With a clock other than the real one, the
	// context of a write attempt reports no deadline of its own (see
	// RetryPolicy.AttemptTimeout).
	Clock clock.Clock

	// Supervisor holds options for the pipeline's supervisor, applied
	// after the pipeline's own (rest-for-one strategy, Clock): intensity,
	// backoff, hooks.
	Supervisor []supervisor.Option

	// Observer receives measurements for metrics; see Observer. The zero
	// value observes nothing and costs nothing.
	Observer Observer

	// Logger receives the pipeline's logs: a forced drain, a supervisor
	// that gave up. Nil means slog.Default(). Nothing is logged per
	// message.
	Logger *slog.Logger
}

// withDefaults returns o with every zero field set to its default, or an
// error naming every invalid field.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("MaxInFlight %d is negative", o.MaxInFlight))
	}
	if o.MaxInFlightBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxInFlightBytes %d is negative", o.MaxInFlightBytes))
	}
	if o.ChunkSize < 0 {
		errs = append(errs, fmt.Errorf("ChunkSize %d is negative", o.ChunkSize))
	}
	if o.ChannelCapacity < 0 {
		errs = append(errs, fmt.Errorf("ChannelCapacity %d is negative", o.ChannelCapacity))
	}
	if o.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("DrainTimeout %v is negative", o.DrainTimeout))
	}
	if o.ForceShare < 0 || o.ForceShare >= 1 {
		errs = append(errs, fmt.Errorf("ForceShare %v is not between 0 and 1", o.ForceShare))
	}
	if o.NackDelay < 0 {
		errs = append(errs, fmt.Errorf("NackDelay %v is negative", o.NackDelay))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}

	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChannelCapacity == 0 {
		o.ChannelCapacity = DefaultChannelCapacity
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.ForceShare == 0 {
		o.ForceShare = DefaultForceShare
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
