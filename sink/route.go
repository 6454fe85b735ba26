package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// Stage names of every route's pipeline, as metrics and logs show them.
const (
	stageReceive = "receive"
	stageBatch   = "batch"
	stageWrite   = "write"
)

// route consumes one topic on one subscription through its own pipeline:
// receive, batch, write, ack. It is a child of the runtime's routes
// supervisor; each run subscribes anew.
type route struct {
	rt    *Runtime
	cfg   Route  // every default resolved
	label string // topic@subscription, without '/', for names and logs
	inst  *otel.Instrumentation
	pipe  *stage.Pipeline
	dlq   *danube.Producer // set by the runtime for each of its runs; nil without a dead-letter topic

	mu  sync.Mutex
	sub *subscription // the current subscription, nil between runs
}

func newRoute(rt *Runtime, cfg Route) (*route, error) {
	r := &route{rt: rt, cfg: cfg}
	r.label = strings.ReplaceAll(strings.TrimPrefix(cfg.Topic, "/"), "/", ".") + "@" + cfg.SubscriptionName

	inst, err := otel.New(otel.Options{
		MeterProvider:  rt.opts.MeterProvider,
		TracerProvider: rt.opts.TracerProvider,
		Connector:      rt.cfg.ConnectorName,
		Topic:          cfg.Topic,
		Subscription:   cfg.SubscriptionName,
		Classify:       classifyForMetrics,
		Throughput:     rt.opts.Throughput,
	})
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", r.label, err)
	}
	r.inst = inst

	r.pipe = stage.New(r.label, stage.Options{
		MaxInFlight:      rt.opts.MaxInFlight,
		MaxInFlightBytes: rt.opts.MaxInFlightBytes,
		DrainTimeout:     rt.cfg.DrainTimeout,
		Clock:            rt.clk,
		Observer:         inst.StageObserver(),
		Logger:           rt.log,
		// The pipeline's supervisor runs nested in the runtime's, whose
		// hooks receive its events too.
	})
	flow := stage.From(r.pipe, stageReceive, stage.Source[*Record](&source{r: r}))
	batches := stage.Batch(flow, stageBatch, stage.BatchOptions{
		MaxCount: rt.cfg.BatchSize,
		MaxBytes: rt.cfg.BatchMaxBytes,
		MaxWait:  rt.cfg.BatchTimeout,
	})
	initial := rt.cfg.RetryBackoff
	if initial == 0 {
		initial = -1 // the retry policy's value for retrying at once
	}
	stage.Write(batches, stageWrite, stage.Writer[*Record](&writer{r: r}), stage.WriteOptions{
		Retry: stage.RetryPolicy{
			MaxAttempts: rt.cfg.MaxRetries + 1,
			Initial:     initial,
			Max:         max(rt.cfg.MaxBackoff, rt.cfg.RetryBackoff),
		},
	})
	return r, nil
}

// current returns the route's subscription, nil between runs.
func (r *route) current() *subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sub
}

func (r *route) setCurrent(s *subscription) {
	r.mu.Lock()
	r.sub = s
	r.mu.Unlock()
}

// Run subscribes, runs the route's pipeline until the runtime stops, the
// subscription fails or the pipeline gives up, then settles and
// acknowledges everything it received and closes the consumer.
func (r *route) Run(ctx context.Context) error {
	rt := r.rt
	cons, err := rt.currentClient().NewConsumer(ctx, danube.ConsumerOptions{
		Topic:        r.cfg.Topic,
		Subscription: r.cfg.SubscriptionName,
		Name:         r.cfg.ConsumerName,
		Type:         r.cfg.SubscriptionType.danube(),
		KeyFilters:   r.cfg.KeyFilters,
	})
	if err != nil {
		return fmt.Errorf("route %s: subscribe: %w", r.label, err)
	}
	sub := newSubscription(r, cons)
	r.setCurrent(sub)
	defer r.setCurrent(nil)

	// Every route drains as soon as the runtime stops, rather than one
	// after the other as the supervisor stops its children.
	runCtx := rt.runCtx()
	pipeCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(runCtx, func() { cancel(context.Cause(runCtx)) })()

	go sub.settler.run()
	err = r.pipe.Run(pipeCtx)
	sub.finish()

	failure := sub.failure()
	switch {
	case failure != nil:
		return fmt.Errorf("route %s: %w", r.label, failure)
	case runCtx.Err() != nil || ctx.Err() != nil:
		var derr *stage.DrainError
		if errors.As(err, &derr) {
			rt.recordDrainError(err)
		}
		return nil
	case err != nil:
		return err
	}
	return errors.New("route " + r.label + ": the pipeline stopped by itself")
}
