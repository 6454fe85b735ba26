package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// programName names the binary in its help and messages.
const programName = "danube-sink-mongodb"

// drainMargin is the time the process gives the runtime beyond
// DRAIN_TIMEOUT_MS before it forces the stop. The runtime bounds its own
// drain by DRAIN_TIMEOUT_MS and nacks what is unwritten then. The margin
// covers the acknowledgements still on their way to the broker and the
// closing of the MongoDB client, so the forced stop is only a backstop.
// docs/operations.md counts it in the grace period an orchestrator must
// give the process.
const drainMargin = 10 * time.Second

// run is the program. It reads the command line args (without the
// program name) and the environment through lookup, writes the help to
// stdout and its log to stderr, and runs the sink until ctx ends or a
// signal stops it. It returns the exit status: 0 after a clean stop or the
// help, 1 after a failure or a drain that missed its deadline, 2 for an
// invalid configuration or command line, and 128+N after a second signal N
// forced the stop.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {}
	configPath := flags.String("config", "", "")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(stdout)
			return lifecycle.ExitOK
		}
		fmt.Fprintf(stderr, "%s: run %s -help for the flags and settings\n", programName, programName)
		return lifecycle.ExitInvalidConfig
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q: the settings come from the environment or -config FILE; run %s -help\n",
			programName, flags.Arg(0), programName)
		return lifecycle.ExitInvalidConfig
	}

	cfg, err := loadConfig(*configPath, lookup)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return lifecycle.ExitCode(err)
	}
	logger, err := otel.NewLogger(cfg.LogLevel, stderr)
	if err != nil {
		// Unreachable while LOG_LEVEL's tag lists the levels NewLogger
		// accepts.
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return lifecycle.ExitInvalidConfig
	}

	err = serve(ctx, cfg, logger)
	if err != nil {
		logger.Error("sink stopped", "error", err)
	} else {
		logger.Info("sink stopped cleanly")
	}
	return lifecycle.ExitCode(err)
}

// serve builds the sink from cfg and runs it under lifecycle.Serve, with
// the operations endpoints on METRICS_PORT, until a signal or the end of
// ctx stops it.
func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	logger.Info("starting", "program", programName,
		"mongodb_server", mongodb.RedactURI(cfg.MongoDB.ConnectionString),
		"config", config.LogValue(&cfg))

	provider, metrics, err := ops.NewPrometheus()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer func() {
		if err := provider.Shutdown(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("shut down the metrics provider", "error", err)
		}
	}()

	conn, err := mongodb.New(cfg.mongo(), mongodb.WithLogger(logger))
	if err != nil {
		return err
	}
	throughput, err := otel.NewThroughputLogger(logger, cfg.ThroughputInterval, nil)
	if err != nil {
		return err
	}
	rt, err := sink.New(conn, cfg.Config, sink.Options{Logger: logger, MeterProvider: provider, Throughput: throughput})
	if err != nil {
		return err
	}

	return lifecycle.Serve(ctx, &service{log: logger, rt: rt, throughput: throughput}, lifecycle.ServeOptions{
		Options: lifecycle.Options{
			DrainTimeout: cfg.DrainTimeout,
			DrainMargin:  drainMargin,
			Logger:       logger,
		},
		MetricsPort: cfg.MetricsPort,
		MetricsHost: cfg.MetricsHost,
		Metrics:     metrics,
		Live:        rt.Live,
		Ready:       rt.Ready,
		Started: func(addr string) {
			logger.Info("operations endpoints listening", "address", addr, "paths", "/metrics /healthz /readyz")
		},
	})
}

// service runs the sink runtime and, beside it, the throughput logger, as
// one lifecycle.Service whose Force forces the runtime.
type service struct {
	log        *slog.Logger
	rt         *sink.Runtime
	throughput *otel.ThroughputLogger
}

// Run runs the runtime until ctx ends and it has drained. The throughput
// logger outlives the runtime by its last line, so that the totals it
// logs count every record written.
func (s *service) Run(ctx context.Context) error {
	logCtx, stopLog := context.WithCancel(context.WithoutCancel(ctx))
	var logging sync.WaitGroup
	logging.Go(func() { _ = s.throughput.Run(logCtx) })

	err := s.rt.Run(ctx)
	s.logTotals()

	stopLog()
	logging.Wait()
	return err
}

// logTotals logs what the routes settled since the start, and what they
// still hold, which is 0 after a clean drain.
func (s *service) logTotals() {
	var total stage.Stats
	for _, st := range s.rt.Stats() {
		total.Acked += st.Acked
		total.Nacked += st.Nacked
		total.DeadLettered += st.DeadLettered
		total.InFlight += st.InFlight
	}
	s.log.Info("sink totals", "acked", total.Acked, "nacked", total.Nacked,
		"dead_lettered", total.DeadLettered, "in_flight", total.InFlight)
}

// Force cuts the runtime's drain short.
func (s *service) Force() { s.rt.Force() }
