package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

var (
	// ErrAlreadyRunning is returned by Run while another Run of the same
	// Runtime is in progress.
	ErrAlreadyRunning = errors.New("sink already running")
	// ErrForced is the cause of the contexts that Force cancels.
	ErrForced = errors.New("sink forced to stop")
)

// Time given to the parts of a stop that follow the pipeline's drain.
const (
	// settleGrace bounds, after a route's drain, the acks and nacks that
	// are still on their way to the broker.
	settleGrace = 10 * time.Second
	// closeTimeout bounds Connector.Close.
	closeTimeout = 10 * time.Second
)

// Runtime runs a Connector: it consumes its routes from Danube, writes
// through the connector and acknowledges, under a supervision tree. Make
// one with New and call Run; Ready and Live serve the health endpoints,
// and Force cuts a stop short.
type Runtime struct {
	cfg    Config
	opts   Options
	log    *slog.Logger
	clk    clock.Clock
	state  *connState
	routes []*route
	inst   *otel.Instrumentation // the connector's, for the supervisor's metrics
	health health

	mu        sync.Mutex
	running   bool
	runErr    error // the last Run's result
	client    *danube.Client
	run       context.Context // done when the current Run's stop began
	stopRun   context.CancelCauseFunc
	force     context.Context // done when Force was called
	forceStop context.CancelCauseFunc
	drainErrs []error
	abortErr  error // the failure of a route that no restart can fix, which ended the run
}

// New returns a runtime that runs conn with cfg. Start from DefaultConfig
// or LoadConfig: New uses cfg as it is, without defaults, and returns a
// *config.Error listing every problem of an invalid cfg. It builds every
// route's pipeline, so stages that Options.Transform joined wrongly give
// an error wrapping stage.ErrInvalidPipeline here. New does not contact
// the broker; Run does.
func New(conn Connector, cfg Config, opts Options) (*Runtime, error) {
	if conn == nil {
		return nil, errors.New("sink: nil Connector")
	}
	if err := config.Check(&cfg); err != nil {
		return nil, err
	}
	rt := &Runtime{
		cfg:   cfg,
		opts:  opts,
		log:   opts.Logger,
		clk:   clock.OrReal(opts.Clock),
		state: newConnState(conn),
	}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	rt.health.rt = rt
	rt.force, rt.forceStop = context.WithCancelCause(context.Background())
	rt.run, rt.stopRun = context.WithCancelCause(context.Background())

	inst, err := otel.New(otel.Options{
		MeterProvider:  opts.MeterProvider,
		TracerProvider: opts.TracerProvider,
		Connector:      cfg.ConnectorName,
		Classify:       classifyForMetrics,
	})
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	rt.inst = inst

	for _, rc := range cfg.resolveRoutes() {
		r, err := newRoute(rt, rc)
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		rt.routes = append(rt.routes, r)
	}
	return rt, nil
}

// Run consumes until ctx is done, then drains: every route stops
// receiving, writes what it holds and acknowledges it, within
// Config.DrainTimeout, and what is still unwritten then is nacked. It
// returns nil after a clean drain.
//
// Run returns an error in four cases. A drain forced by its deadline or
// by Force gives an error naming what held it up. A runtime that could not
// start (its dead-letter producer, the subscription policy) gives the
// cause. A supervisor that gave up on a connector that kept failing gives
// its last failure, such as an ErrFatal from Write. A route whose
// pipeline cannot run stops the run at once with an error wrapping
// stage.ErrInvalidPipeline; New rejects such pipelines already, so this
// is a guard.
//
// Run may be called again after it returned.
func (rt *Runtime) Run(ctx context.Context) (err error) {
	ctx, err = rt.begin(ctx)
	if err != nil {
		return err
	}
	defer func() { rt.end(err) }()

	for _, r := range rt.routes {
		reg, err := r.inst.ObservePipeline(r.pipe)
		if err != nil {
			return fmt.Errorf("sink %s: route %s: observe the pipeline: %w", rt.cfg.ConnectorName, r.label, err)
		}
		defer func() { _ = reg.Unregister() }()
	}

	client, closeClient, err := rt.connect()
	if err != nil {
		return err
	}
	defer closeClient()
	if err := rt.applyPolicies(ctx, client); err != nil {
		return err
	}
	closeDLQ, err := rt.openDeadLetters(ctx, client)
	if err != nil {
		return err
	}
	defer closeDLQ()

	root, err := rt.supervisor()
	if err != nil {
		return fmt.Errorf("sink %s: %w", rt.cfg.ConnectorName, err)
	}
	rt.log.Info("sink started", "connector", rt.cfg.ConnectorName, "routes", len(rt.routes))
	err = root.Run(ctx)
	if err != nil && ctx.Err() == nil {
		rt.log.Error("sink stopped: its supervisor gave up", "connector", rt.cfg.ConnectorName, "error", err)
		return fmt.Errorf("sink %s: %w", rt.cfg.ConnectorName, err)
	}

	rt.mu.Lock()
	errs, aborted := rt.drainErrs, rt.abortErr
	rt.mu.Unlock()
	if aborted != nil {
		rt.log.Error("sink stopped: a route cannot run", "connector", rt.cfg.ConnectorName, "error", aborted)
		return fmt.Errorf("sink %s: %w", rt.cfg.ConnectorName, aborted)
	}
	if rt.forceCtx().Err() != nil {
		errs = append(errs, ErrForced)
	}
	if len(errs) > 0 {
		return fmt.Errorf("sink %s: %w", rt.cfg.ConnectorName, errors.Join(errs...))
	}
	rt.log.Info("sink stopped", "connector", rt.cfg.ConnectorName)
	return nil
}

// begin marks the runtime running and prepares the run's state. It
// returns the run's context: ctx, also cancelled by Force.
func (rt *Runtime) begin(ctx context.Context) (context.Context, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.running {
		return nil, ErrAlreadyRunning
	}
	rt.running, rt.runErr, rt.drainErrs, rt.abortErr = true, nil, nil, nil
	rt.run, rt.stopRun = context.WithCancelCause(ctx)
	if rt.force.Err() != nil {
		rt.force, rt.forceStop = context.WithCancelCause(context.Background())
	}
	rt.state.reset()
	rt.health.reset(rt.clk.Now())
	return rt.run, nil
}

func (rt *Runtime) end(err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.stopRun(nil)
	rt.running, rt.runErr = false, err
	rt.client = nil
}

// runCtx returns the context of the current Run, done when its stop
// began.
func (rt *Runtime) runCtx() context.Context {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.run
}

// forceCtx returns the context that Force cancels.
func (rt *Runtime) forceCtx() context.Context {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.force
}

// Force stops Run at once, or cuts short the stop in progress. Writes in
// progress are cancelled, a batch waiting to be retried waits no longer,
// and every record not yet written is nacked without reaching the
// connector, so that Run returns promptly with an error matching
// ErrForced. Force is safe to call at any time from any goroutine,
// returns without waiting, and does nothing when Run is not running.
func (rt *Runtime) Force() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.running {
		return
	}
	rt.forceStop(ErrForced)
	// Force each pipeline before it begins draining, so that its drain
	// starts forced, without a graceful phase that would write what it
	// holds.
	for _, r := range rt.routes {
		r.pipe.Force()
	}
	rt.stopRun(ErrForced)
}

// abort stops the run because of err, a failure of a route that no
// restart can fix, for Run to return.
func (rt *Runtime) abort(err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.abortErr == nil {
		rt.abortErr = err
	}
	rt.stopRun(err)
}

// RouteStats is a snapshot of one route's counters.
type RouteStats struct {
	// Topic is the route's topic as configured: for a partitioned topic
	// the base name, without a partition suffix, covering all its
	// partitions.
	Topic string
	// Subscription is the route's subscription name, after defaults.
	Subscription string
	// Stats counts the records of the route's pipeline: in flight
	// (received and not yet settled), acked, nacked and dead-lettered,
	// since New.
	stage.Stats
	// Duplicates counts the redeliveries dropped on receipt since New,
	// because the route still held the message's first delivery: one
	// whose ack timeout passed during a slow write, or one sent again
	// when the consumer's stream reconnected. The first delivery's ack or
	// nack settles the message at the broker.
	Duplicates int64
}

// Stats returns the counters of every route, in the order of the
// configuration. WARNING: they move while Run runs; read them for
// monitoring, and after Run returned for totals.
func (rt *Runtime) Stats() []RouteStats {
	out := make([]RouteStats, len(rt.routes))
	for i, r := range rt.routes {
		out[i] = RouteStats{
			Topic:        r.cfg.Topic,
			Subscription: r.cfg.SubscriptionName,
			Stats:        r.pipe.Stats(),
			Duplicates:   r.duplicates.Load(),
		}
	}
	return out
}

// recordDrainError keeps the error of a route whose drain was forced, for
// Run to return.
func (rt *Runtime) recordDrainError(err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.drainErrs = append(rt.drainErrs, err)
}

// currentClient returns the broker client of the current Run.
func (rt *Runtime) currentClient() *danube.Client {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.client
}

// connect returns the broker client of this run, and the function that
// closes it when Run made it.
func (rt *Runtime) connect() (*danube.Client, func(), error) {
	client := rt.opts.Client
	closeClient := func() {}
	if client == nil {
		opts := append(rt.cfg.clientOptions(), danube.WithLogger(rt.log))
		opts = append(opts, rt.opts.ClientOptions...)
		var err error
		client, err = danube.NewClient(rt.cfg.ServiceURL, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("sink %s: %w", rt.cfg.ConnectorName, err)
		}
		closeClient = func() { _ = client.Close() }
	}
	rt.mu.Lock()
	rt.client = client
	rt.mu.Unlock()
	return client, closeClient, nil
}

// openDeadLetters creates a producer for each dead-letter topic of the
// routes, and returns the function that flushes and closes them.
func (rt *Runtime) openDeadLetters(ctx context.Context, client *danube.Client) (func(), error) {
	producers := make(map[string]*danube.Producer)
	closeAll := func() {
		for _, p := range producers {
			fctx, cancel := context.WithTimeout(context.Background(), settleGrace)
			_ = p.Flush(fctx)
			cancel()
			_ = p.Close()
		}
		for _, r := range rt.routes {
			r.dlq = nil
		}
	}
	for _, r := range rt.routes {
		topic := r.cfg.DeadLetterTopic
		if topic == "" {
			continue
		}
		p, ok := producers[topic]
		if !ok {
			var err error
			p, err = client.NewProducer(ctx, danube.ProducerOptions{
				Topic:    topic,
				Name:     rt.cfg.ConnectorName + "-dead-letter-" + randomSuffix(),
				Reliable: true,
			})
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("sink %s: dead-letter topic %s: %w", rt.cfg.ConnectorName, topic, err)
			}
			producers[topic] = p
		}
		r.dlq = p
	}
	return closeAll, nil
}

// supervisor returns the runtime's supervision tree: the connector first,
// then the routes under a supervisor of their own. Rest-for-one at the
// root: a connector that fails (its Open, or a Write with ErrFatal) is
// closed, and the routes are stopped, nacking what they hold, before it
// is opened again and the routes subscribe again. One-for-one among the
// routes: a route whose subscription fails subscribes again alone. An
// error means a child was rejected, whose route would never run.
func (rt *Runtime) supervisor() (*supervisor.Supervisor, error) {
	hooks := []supervisor.Option{
		supervisor.WithHook(supervisor.SlogHook(rt.log)),
		supervisor.WithHook(rt.inst.SupervisorHook()),
		supervisor.WithHook(rt.health.observe),
	}
	root := supervisor.New("sink", append(append([]supervisor.Option{
		supervisor.WithStrategy(supervisor.RestForOne),
		supervisor.WithClock(rt.clk),
	}, hooks...), rt.opts.Supervisor...)...)

	routes := supervisor.New("routes", supervisor.WithStrategy(supervisor.OneForOne))
	for _, r := range rt.routes {
		err := routes.Add(supervisor.Spec{
			Name:            r.name,
			Child:           r,
			Restart:         supervisor.Transient,
			ShutdownTimeout: rt.cfg.DrainTimeout + settleGrace,
		})
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.label, err)
		}
	}
	err := root.Add(supervisor.Spec{
		Name:            "connector",
		Child:           supervisor.ChildFunc(rt.runConnector),
		ShutdownTimeout: closeTimeout + time.Second,
	})
	if err != nil {
		return nil, err
	}
	if err := root.Add(supervisor.Spec{Child: routes}); err != nil {
		return nil, err
	}
	return root, nil
}

// runConnector is the connector's child: it opens the connector, keeps it
// open until the runtime stops or a Write fails fatally, and closes it.
func (rt *Runtime) runConnector(ctx context.Context) error {
	if err := rt.open(ctx); err != nil {
		return err
	}
	rt.log.Info("connector open", "connector", rt.cfg.ConnectorName)

	var failure error
	select {
	case <-ctx.Done():
	case failure = <-rt.state.failures():
		rt.log.Error("connector failed; closing it, nacking what the routes hold, and opening it again",
			"connector", rt.cfg.ConnectorName, "error", failure)
	}
	cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := rt.state.close(cctx); err != nil {
		rt.log.Warn("closing the connector failed", "connector", rt.cfg.ConnectorName, "error", err)
	}
	return failure
}

// open opens the connector within ctx and within the run. The supervisor
// cancels ctx only after the routes have stopped, but a route's drain
// waits for the connector to open, so a stop during a slow Open would
// otherwise wait for the drain's timeout.
func (rt *Runtime) open(ctx context.Context) error {
	runCtx := rt.runCtx()
	openCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(runCtx, func() { cancel(context.Cause(runCtx)) })
	defer stop()
	return rt.state.open(openCtx)
}
