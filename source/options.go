package source

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
)

// Defaults of Options, used for each field left at zero.
const (
	DefaultConnectorName      = "source"
	DefaultBatchSize          = 256
	DefaultBatchTimeout       = 100 * time.Millisecond
	DefaultMaxRetries         = 5
	DefaultRetryBackoff       = 500 * time.Millisecond
	DefaultSendTimeout        = 30 * time.Second
	DefaultPollInterval       = time.Second
	DefaultCheckpointInterval = 5 * time.Second
	DefaultCheckpointEvery    = 1000
	DefaultCommitTimeout      = 10 * time.Second
	DefaultDrainTimeout       = 30 * time.Second
)

// maxRetryBackoff caps the growing wait between retries of a send or a
// poll.
const maxRetryBackoff = 30 * time.Second

// Route sets how the runtime publishes to one topic.
type Route struct {
	// Topic is the topic, "/namespace/name", without a partition suffix.
	Topic string
	// Partitions is the topic's partition count, 0 for a topic without
	// partitions. Every producer of a topic must use the same count.
	Partitions int
	// NonReliable publishes with the non-reliable dispatch strategy, which
	// stores nothing. The default, false, is reliable dispatch. It must
	// match the strategy the topic was created with.
	NonReliable bool
}

// Options configures a Runtime. The zero value of every field but Topic
// means the default documented on it.
type Options struct {
	// Topic is the default topic, for records whose Topic is "".
	// Required.
	Topic string
	// Partitions is the default topic's partition count, 0 for none.
	Partitions int
	// NonReliable publishes to the default topic with non-reliable
	// dispatch; see Route.
	NonReliable bool
	// Routes configures further topics that records name in their Topic.
	// A record may name a topic not listed here: it is published without
	// partitions, with the default topic's dispatch strategy.
	Routes []Route

	// ConnectorName names the connector in logs, metrics and the names of
	// its producers, DefaultConnectorName by default.
	ConnectorName string

	// BatchSize is the most records published as one batch,
	// DefaultBatchSize by default. The sends of a batch run concurrently,
	// so it is also the most sends in flight, up to MaxInFlight.
	BatchSize int
	// BatchTimeout is the longest a record waits for its batch to fill,
	// DefaultBatchTimeout by default. A batch is also sent as soon as the
	// connector has no more records ready.
	BatchTimeout time.Duration
	// MaxInFlight bounds the sends running at once per topic,
	// danube.DefaultMaxInFlight by default. 1 stores the records of a
	// topic in the order the connector handed them out; more sends in
	// flight may store them out of order.
	MaxInFlight int
	// MaxBuffered bounds the records taken from the connector and not yet
	// acknowledged by the broker, stage.DefaultMaxInFlight by default.
	MaxBuffered int

	// MaxRetries is how many times a failed send is tried again before the
	// Run stops with ErrUnpublished, DefaultMaxRetries by default. It is
	// also how many Poll failures in a row the runtime tolerates, and how
	// many times Run tries again to create the default topic's producer
	// when it starts. Set NoRetries for none.
	MaxRetries int
	// RetryBackoff is the wait before the first retry, doubling with each
	// retry up to 30 s, DefaultRetryBackoff by default.
	RetryBackoff time.Duration
	// SendTimeout bounds one attempt to publish a batch, or to create the
	// default topic's producer when Run starts, including the retries that
	// the Danube client makes by itself for UNAVAILABLE and similar
	// failures, DefaultSendTimeout by default.
	SendTimeout time.Duration

	// PollInterval is the wait after a Poll that returned no records,
	// DefaultPollInterval by default. Unused in streaming mode.
	PollInterval time.Duration

	// CheckpointInterval is the interval at which the runtime commits the
	// checkpoint when it has moved, DefaultCheckpointInterval by default.
	CheckpointInterval time.Duration
	// CheckpointEvery also commits each time this many records have been
	// acknowledged since the last commit, DefaultCheckpointEvery by
	// default. Set NoCheckpointEvery to commit on the interval only.
	CheckpointEvery int
	// CommitTimeout bounds each call of Commit, DefaultCommitTimeout by
	// default. Once the Run's context has ended, what remains of
	// DrainTimeout bounds Commit too.
	CommitTimeout time.Duration

	// DrainTimeout bounds how long Run takes to return once its context is
	// done: four fifths to publish the records taken from the connector,
	// the rest for the last Commit and Close. The sends still running when
	// 64% of it has passed are cut short. DefaultDrainTimeout by default.
	DrainTimeout time.Duration

	// Instrumentation receives metrics of the pipeline and its sends, and
	// makes the spans whose context goes into each record's attributes as
	// a W3C traceparent. Nil records nothing and adds no attribute; so
	// does an Instrumentation without a TracerProvider, as to traces.
	Instrumentation *otel.Instrumentation

	// Clock is the time source of every wait, the real clock by default;
	// tests pass a *clock.Fake.
	Clock clock.Clock

	// Logger receives the runtime's logs: start, stop, retries, failures.
	// Nil means slog.Default(). Nothing is logged per record.
	Logger *slog.Logger
}

// NoRetries and NoCheckpointEvery set the fields they name to none, since
// zero there means the default.
const (
	NoRetries         = -1
	NoCheckpointEvery = -1
)

// withDefaults returns o with every zero field set to its default, or an
// error naming every invalid field.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if o.Topic == "" {
		bad("Topic is empty; set the default topic")
	} else if err := danube.ValidateTopic(o.Topic); err != nil {
		bad("Topic: %w", err)
	}
	if o.Partitions < 0 {
		bad("Partitions %d is negative", o.Partitions)
	}
	seen := map[string]bool{o.Topic: true}
	for i, r := range o.Routes {
		if err := danube.ValidateTopic(r.Topic); err != nil {
			bad("Routes[%d].Topic: %w", i, err)
		}
		if seen[r.Topic] {
			bad("Routes[%d].Topic %q is configured twice", i, r.Topic)
		}
		seen[r.Topic] = true
		if r.Partitions < 0 {
			bad("Routes[%d].Partitions %d is negative", i, r.Partitions)
		}
	}
	checks := []struct {
		name string
		v    int64
		min  int64
	}{
		{"BatchSize", int64(o.BatchSize), 0},
		{"BatchTimeout", int64(o.BatchTimeout), 0},
		{"MaxInFlight", int64(o.MaxInFlight), 0},
		{"MaxBuffered", int64(o.MaxBuffered), 0},
		{"MaxRetries", int64(o.MaxRetries), NoRetries},
		{"RetryBackoff", int64(o.RetryBackoff), 0},
		{"SendTimeout", int64(o.SendTimeout), 0},
		{"PollInterval", int64(o.PollInterval), 0},
		{"CheckpointInterval", int64(o.CheckpointInterval), 0},
		{"CheckpointEvery", int64(o.CheckpointEvery), NoCheckpointEvery},
		{"CommitTimeout", int64(o.CommitTimeout), 0},
		{"DrainTimeout", int64(o.DrainTimeout), 0},
	}
	for _, c := range checks {
		if c.v < c.min {
			bad("%s %d is below %d", c.name, c.v, c.min)
		}
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}

	setDefault(&o.ConnectorName, DefaultConnectorName)
	setDefault(&o.BatchSize, DefaultBatchSize)
	setDefault(&o.BatchTimeout, DefaultBatchTimeout)
	setDefault(&o.MaxInFlight, danube.DefaultMaxInFlight)
	setDefault(&o.MaxRetries, DefaultMaxRetries)
	setDefault(&o.RetryBackoff, DefaultRetryBackoff)
	setDefault(&o.SendTimeout, DefaultSendTimeout)
	setDefault(&o.PollInterval, DefaultPollInterval)
	setDefault(&o.CheckpointInterval, DefaultCheckpointInterval)
	setDefault(&o.CheckpointEvery, DefaultCheckpointEvery)
	setDefault(&o.CommitTimeout, DefaultCommitTimeout)
	setDefault(&o.DrainTimeout, DefaultDrainTimeout)
	if o.MaxRetries == NoRetries {
		o.MaxRetries = 0
	}
	if o.CheckpointEvery == NoCheckpointEvery {
		o.CheckpointEvery = 0
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// route returns the route of topic: a configured one, or the default for
// a topic that records name without configuration.
func (o *Options) route(topic string) Route {
	if topic == o.Topic {
		return Route{Topic: o.Topic, Partitions: o.Partitions, NonReliable: o.NonReliable}
	}
	for _, r := range o.Routes {
		if r.Topic == topic {
			return r
		}
	}
	return Route{Topic: topic, NonReliable: o.NonReliable}
}
