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
// exits 0. A second signal cuts the drain short. The process serves
// /metrics, /healthz and /readyz on METRICS_PORT (9090).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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

func main() { os.Exit(run()) }

func run() int {
	var cfg jsonl.Config
	if err := source.LoadConfigInto(&cfg, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return lifecycle.ExitCode(err)
	}
	log, err := otel.NewLogger(cfg.LogLevel, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return lifecycle.ExitInvalidConfig
	}
	log.Info("configuration", "config", config.LogValue(cfg))

	err = serve(context.Background(), &cfg, log)
	if err != nil {
		log.Error("connector stopped", "error", err)
	}
	return lifecycle.ExitCode(err)
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

	svc, err := newService(rt, throughput, cfg.ConnectorName, log, inst)
	if err != nil {
		return err
	}
	return lifecycle.Serve(ctx, svc, lifecycle.ServeOptions{
		Options:     lifecycle.Options{DrainTimeout: cfg.DrainTimeout, Logger: log},
		MetricsPort: cfg.MetricsPort,
		Metrics:     metrics,
		Ready:       rt.Health,
	})
}

// service is the supervision tree of the process: the runtime, restarted
// with backoff after a failure, and the throughput log line. Its Force
// cuts the runtime's drain short.
type service struct {
	root *supervisor.Supervisor
	rt   *source.Runtime
}

func newService(rt *source.Runtime, throughput *otel.ThroughputLogger, name string, log *slog.Logger, inst *otel.Instrumentation) (*service, error) {
	root := supervisor.New(name,
		// The input ending ends the process.
		supervisor.WithAutoShutdown(supervisor.AnySignificant),
		supervisor.WithHook(supervisor.SlogHook(log)),
		supervisor.WithHook(inst.SupervisorHook()),
	)
	err := root.Add(supervisor.Spec{
		Name:    "source",
		Child:   rt,
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
	return &service{root: root, rt: rt}, nil
}

func (s *service) Run(ctx context.Context) error { return s.root.Run(ctx) }

func (s *service) Force() { s.rt.Force() }
