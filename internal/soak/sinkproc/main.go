// Command sinkproc is the sink process of the soak test: the sink runtime
// of package sink with the MongoDB connector of package mongodb, wrapped
// in a connector that makes writes fail and panic on demand. The soak
// test starts it, signals it, kills it and starts it again.
//
// It reads the sink runtime's settings (DANUBE_SERVICE_URL, DANUBE_TOPIC,
// DEAD_LETTER_TOPIC, ...) with sink.LoadConfig and the MongoDB connector's
// (MONGODB_CONNECTION_STRING, NON_JSON, ...) with mongodb.Config.ApplyEnv,
// both from the environment, and two settings of its own:
//
//	SOAK_FAILURE_RATE  share of Write calls that fail as retryable, 0 to 1 (default 0)
//	SOAK_SEED          seed of the generator that picks those calls (default 1)
//
// It logs JSON lines to standard error. On standard output it writes only
// lines that start with "soak:". They give the address of its operations
// endpoints (/metrics, /healthz, /readyz) once they listen, each injected
// fault, and each Write or MongoDB command that took a second or more. SIGUSR1 makes the next Write write half of its batch and panic.
// The first SIGTERM drains and exits 0; a second one forces the stop.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// The program's own environment variables.
const (
	envFailureRate = "SOAK_FAILURE_RATE"
	envSeed        = "SOAK_SEED"
)

// drainMargin is the time given beyond DRAIN_TIMEOUT_MS before the stop is
// forced: the runtime bounds its own drain and nacks what is unwritten
// then, and the margin covers the acknowledgements still on their way and
// the closing of the MongoDB client.
const drainMargin = 10 * time.Second

func main() {
	os.Exit(run(context.Background(), os.LookupEnv, os.Stdout, os.Stderr))
}

// run is the program: it reads the MongoDB and fault settings through
// lookup and the runtime's with sink.LoadConfig, which reads the process
// environment, logs to stderr, writes its event lines to stdout, and
// returns the exit status of lifecycle.ExitCode.
func run(ctx context.Context, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	events := &lockedWriter{w: stdout}

	cfg, err := sink.LoadConfig("")
	if err != nil {
		fmt.Fprintf(stderr, "sinkproc: %v\n", err)
		return lifecycle.ExitCode(err)
	}
	var mcfg mongodb.Config
	if err := mcfg.ApplyEnv(lookup); err != nil {
		fmt.Fprintf(stderr, "sinkproc: %v\n", err)
		return lifecycle.ExitInvalidConfig
	}
	rate, seed, err := faultSettings(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "sinkproc: %v\n", err)
		return lifecycle.ExitInvalidConfig
	}

	err = serve(ctx, cfg, mcfg, rate, seed, logger, events)
	if err != nil {
		logger.Error("sink stopped", "error", err)
	} else {
		logger.Info("sink stopped cleanly")
	}
	return lifecycle.ExitCode(err)
}

// faultSettings reads SOAK_FAILURE_RATE and SOAK_SEED.
func faultSettings(lookup func(string) (string, bool)) (rate float64, seed uint64, err error) {
	seed = 1
	if v, ok := lookup(envFailureRate); ok && v != "" {
		rate, err = strconv.ParseFloat(v, 64)
		if err != nil || rate < 0 || rate > 1 {
			return 0, 0, fmt.Errorf("invalid %s %q: want a number from 0 to 1", envFailureRate, v)
		}
	}
	if v, ok := lookup(envSeed); ok && v != "" {
		seed, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid %s %q: want a non-negative integer", envSeed, v)
		}
	}
	return rate, seed, nil
}

// serve builds the runtime around the faulty MongoDB connector and runs it
// under lifecycle.Serve until a signal stops it.
func serve(ctx context.Context, cfg sink.Config, mcfg mongodb.Config, rate float64, seed uint64, logger *slog.Logger, events io.Writer) error {
	provider, metrics, err := ops.NewPrometheus()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer func() { _ = provider.Shutdown(context.WithoutCancel(ctx)) }()

	// The monitor is installed at every Open, after conn is set below.
	var conn *faulty
	mongo, err := mongodb.New(mcfg, mongodb.WithLogger(logger), mongodb.WithClientOptions(func(o *options.ClientOptions) {
		o.SetMonitor(conn.commandMonitor())
	}))
	if err != nil {
		return err
	}
	conn = newFaulty(mongo, rate, seed, events)
	rt, err := sink.New(conn, cfg, sink.Options{Logger: logger, MeterProvider: provider})
	if err != nil {
		return err
	}

	stopPanics := forwardPanicSignal(conn)
	defer stopPanics()

	return lifecycle.Serve(ctx, rt, lifecycle.ServeOptions{
		Options: lifecycle.Options{DrainTimeout: cfg.DrainTimeout + drainMargin, Logger: logger},
		Addr:    "127.0.0.1:0",
		Metrics: metrics,
		Live:    rt.Live,
		Ready:   rt.Ready,
		Started: func(addr string) {
			fmt.Fprintf(events, "%s listening %s\n", eventPrefix, addr)
		},
	})
}

// forwardPanicSignal arms a panic in conn on every SIGUSR1, until the
// returned function is called.
func forwardPanicSignal(conn *faulty) (stop func()) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-usr1:
				conn.armPanic()
			case <-done:
				return
			}
		}
	})
	return func() {
		signal.Stop(usr1)
		close(done)
		wg.Wait()
	}
}

// lockedWriter serializes the event lines of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
