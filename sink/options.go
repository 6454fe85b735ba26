package sink

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// Options holds what a program gives the runtime beyond its Config. The
// zero value is ready to use: the default logger, the real clock, no
// metrics and no traces.
type Options struct {
	// Logger receives the runtime's logs: start, stop, restarts,
	// dead-letter and acknowledgement failures, never one line per
	// message. Nil means slog.Default().
	Logger *slog.Logger

	// Clock times batches, retries, restarts and the drain; nil means the
	// real clock. Tests pass a *clock.Fake.
	Clock clock.Clock

	// MeterProvider and TracerProvider receive the runtime's metrics and
	// spans, through package otel; nil records nothing at no cost.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	// Throughput, when set, receives the records every route wrote or
	// failed to write, for its periodic log line; the caller runs it.
	Throughput *otel.ThroughputLogger

	// Client is the broker client to use instead of one made from the
	// Config's connection settings. Run does not close it.
	Client *danube.Client
	// ClientOptions are added to the options of the client that Run
	// makes, after those of the Config.
	ClientOptions []danube.Option

	// Supervisor holds options of the runtime's root supervisor, applied
	// after its own: WithIntensity to change when it gives up on a
	// connector that keeps failing, WithBackoff, WithHook.
	Supervisor []supervisor.Option

	// MaxInFlight and MaxInFlightBytes bound the records each route holds
	// between receiving and acknowledging them; 0 means the defaults of
	// package stage (10,000 records, 64 MiB).
	MaxInFlight      int
	MaxInFlightBytes int64

	// Transform, when set, adds stages of the caller's own to every
	// route's pipeline, between receiving and batching: filters, maps that
	// enrich or rewrite records, splits. New calls it once per route, with
	// the route's settings, every default resolved, and the flow of its
	// received records. It returns the flow to batch and write: the one
	// it was given, or one that stage.Then built from it with stages
	// named other than StageReceive, StageBatch, StageWrite and
	// stage.AckStageName, and each name used once.
	//
	// The runtime's guarantees hold for those stages. A record that a
	// filter drops is acked. A record whose Map or FlatMap function fails
	// is dead-lettered, with "stage <name>: " and the error's text as
	// AttrFailureReason and the record as the broker delivered it, or
	// nacked when the error is marked stage.Redeliver or the route has no
	// dead-letter topic.
	// Each record is settled exactly once. A stage that replaces a record
	// by nil has it dead-lettered in the same way.
	//
	// A pipeline that cannot run, such as one with a stage name used
	// twice, makes New return an error wrapping stage.ErrInvalidPipeline.
	Transform func(route Route, records stage.Flow[*Record]) stage.Flow[*Record]
}

// DefaultConfig returns a Config with every default set, for a program
// that fills the rest itself before New.
func DefaultConfig() Config {
	var cfg Config
	if err := config.Defaults(&cfg); err != nil {
		panic(err) // the tags of Config are wrong: a bug caught by the tests
	}
	return cfg
}

// clientOptions returns the client options of the connection settings.
func (c *Config) clientOptions() []danube.Option {
	var opts []danube.Option
	switch {
	case c.TLSCertFile != "":
		opts = append(opts, danube.WithMutualTLS(c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile))
	case c.TLS || c.TLSCAFile != "":
		opts = append(opts, danube.WithTLS(c.TLSCAFile))
	}
	if c.Token != "" {
		opts = append(opts, danube.WithToken(c.Token))
	}
	if c.Insecure {
		opts = append(opts, danube.WithInsecure())
	}
	return opts
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
