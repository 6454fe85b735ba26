// Command danube-source-jsonl publishes the lines of a JSON-lines file to
// a Danube topic, following the file as it grows, and keeps its position
// in a checkpoint file so that a restart, even after a kill, resumes
// without losing a line.
//
// It reads its configuration from the environment and from the YAML file
// named by CONNECTOR_CONFIG_PATH:
//
//	DANUBE_SERVICE_URL=http://127.0.0.1:6650 \
//	DANUBE_TOPIC=/default/events \
//	CONNECTOR_NAME=events-file \
//	JSONL_FILE=/var/data/events.jsonl \
//	danube-source-jsonl
//
// The first SIGTERM or SIGINT drains: the lines read are published, the
// position of the last one acknowledged is committed, and the process
// exits 0, or 1 when some lines could not be published within
// DRAIN_TIMEOUT_MS (the next start reads them again). A second signal
// cuts the drain short. The process serves
// /metrics, /healthz and /readyz on METRICS_PORT (9090).
//
// A failure that may pass, such as a lost broker, restarts the source
// with backoff, up to 10 restarts a minute. At start, the source waits
// for a broker that does not respond: it logs a warning and fails after
// MAX_RETRIES+1 attempts of SEND_TIMEOUT_MS each. A failure marked source.Fatal,
// such as an input file truncated below the committed position, stops
// the process with status 1 at once.
//
// danube-source-jsonl -help lists every setting with its default and
// meaning.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// throughputInterval is the interval of the throughput log line.
const throughputInterval = 30 * time.Second

// programName names the program in its help and messages.
const programName = "danube-source-jsonl"

func main() { os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)) }

// run is the program. It reads the command line args (without the
// program name) and the environment through lookup, and writes the help to
// stdout and its log to stderr. It returns the exit status: 0 after a
// clean stop or the help, 1 after a failure or a drain that missed its
// deadline, 2 for an invalid configuration or command line, and 128+N
// after a second signal N forced the stop.
func run(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(stdout)
			return lifecycle.ExitOK
		}
		fmt.Fprintf(stderr, "%s: run %s -help for the flags and settings\n", programName, programName)
		return lifecycle.ExitInvalidConfig
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q: the settings come from the environment or the file %s names; run %s -help\n",
			programName, flags.Arg(0), source.EnvConfigPath, programName)
		return lifecycle.ExitInvalidConfig
	}

	cfg, err := loadConfig(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return lifecycle.ExitCode(err)
	}
	log, err := otel.NewLogger(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return lifecycle.ExitInvalidConfig
	}
	logConfiguration(log, cfg)

	err = serve(context.Background(), &cfg, log)
	if err != nil {
		log.Error("connector stopped", "error", err)
	}
	return lifecycle.ExitCode(err)
}

// loadConfig reads the configuration from the environment through lookup
// and from the YAML file that CONNECTOR_CONFIG_PATH names, if set; the
// environment overrides the file. It returns every problem at once in a
// *config.Error.
func loadConfig(lookup func(string) (string, bool)) (jsonl.Config, error) {
	path, _ := lookup(source.EnvConfigPath)
	var cfg jsonl.Config
	err := config.Load(&cfg, config.Source{File: strings.TrimSpace(path), Lookup: lookup})
	return cfg, err
}

// logConfiguration logs every setting of cfg at start-up, secrets
// redacted.
func logConfiguration(log *slog.Logger, cfg jsonl.Config) {
	log.Info("configuration", "config", config.LogValue(cfg))
}

// serve runs the source until it ends or a signal stops it.
func serve(ctx context.Context, cfg *jsonl.Config, log *slog.Logger) error {
	mp, metrics, err := ops.NewPrometheus()
	if err != nil {
		return err
	}
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
	throughput, err := otel.NewThroughputLogger(log, throughputInterval, clock.Real())
	if err != nil {
		return err
	}
	inst, err := otel.New(otel.Options{
		MeterProvider: mp,
		Connector:     cfg.ConnectorName,
		Topic:         cfg.Topic,
		Throughput:    throughput,
	})
	if err != nil {
		return err
	}

	client, err := danube.NewClient(cfg.ServiceURL, cfg.ClientOptions(log)...)
	if err != nil {
		return err
	}
	defer client.Close()
	conn, err := jsonl.New(cfg.SourceOptions())
	if err != nil {
		return err
	}
	opts := cfg.Options()
	opts.Logger = log
	opts.Instrumentation = inst
	rt, err := source.New(client, conn, opts)
	if err != nil {
		return err
	}

	svc, err := newService(rt, throughput, cfg.ConnectorName, log, inst, clock.Real())
	if err != nil {
		return err
	}
	return lifecycle.Serve(ctx, svc, lifecycle.ServeOptions{
		Options:     lifecycle.Options{DrainTimeout: cfg.DrainTimeout, Logger: log},
		MetricsPort: cfg.MetricsPort,
		MetricsHost: cfg.MetricsHost,
		Metrics:     metrics,
		Ready:       rt.Health,
		Started: func(addr string) {
			log.Info("operations endpoints listening", "address", addr, "paths", "/metrics /healthz /readyz")
		},
	})
}

// service is the supervision tree of the process: the runtime, restarted
// with backoff after a failure unless the failure is marked
// source.ErrFatal, and the throughput log line. Its Force cuts the
// runtime's drain short.
type service struct {
	root  *supervisor.Supervisor
	rt    *source.Runtime
	child *stopOnFatal
}

// newService builds the supervision tree, whose backoff delays and
// restart intensity run on clk.
func newService(rt *source.Runtime, throughput *otel.ThroughputLogger, name string, log *slog.Logger, inst *otel.Instrumentation, clk clock.Clock) (*service, error) {
	root := supervisor.New(name,
		// The input ending, or a fatal error, ends the process.
		supervisor.WithAutoShutdown(supervisor.AnySignificant),
		supervisor.WithHook(supervisor.SlogHook(log)),
		supervisor.WithHook(inst.SupervisorHook()),
		supervisor.WithClock(clk),
	)
	child := &stopOnFatal{rt: rt}
	err := root.Add(supervisor.Spec{
		Name:    "source",
		Child:   child,
		Restart: supervisor.Transient,
		// The runtime bounds its own drain; lifecycle forces it past the
		// deadline.
		ShutdownTimeout: -1,
		Significant:     true,
	})
	if err != nil {
		return nil, err
	}
	if err := root.Add(supervisor.Spec{Name: "throughput", Child: throughput}); err != nil {
		return nil, err
	}
	return &service{root: root, rt: rt, child: child}, nil
}

// Run runs the tree until the input ends, a signal stops it, the runtime
// fails too often, or the runtime fails with an error marked
// source.ErrFatal, which Run then returns.
func (s *service) Run(ctx context.Context) error {
	err := s.root.Run(ctx)
	if fatal := s.child.fatal(); fatal != nil {
		return fatal
	}
	return err
}

func (s *service) Force() { s.rt.Force() }

// stopOnFatal is the supervised child that runs the source runtime. A run
// that fails with an error marked source.ErrFatal, such as a truncated
// input file, is not restarted: the next run would open the connector at
// the same checkpoint and meet the same error. The child keeps the error
// and returns nil, so that the Transient child is not restarted and, as it
// is significant, the tree shuts down.
type stopOnFatal struct {
	rt *source.Runtime

	mu  sync.Mutex
	err error // the fatal error of the last run, nil without one
}

func (c *stopOnFatal) Run(ctx context.Context) error {
	err := c.rt.Run(ctx)
	if !errors.Is(err, source.ErrFatal) {
		return err
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	return nil
}

// fatal returns the fatal error that stopped the runtime, or nil.
func (c *stopOnFatal) fatal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
