package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// Stage names of every route's pipeline, as metrics and logs show them.
// The stages that Options.Transform adds need other names.
const (
	StageReceive = "receive"
	StageBatch   = "batch"
	StageWrite   = "write"
)

// route consumes one topic on one subscription through its own pipeline:
// receive, the stages of Options.Transform, batch, write, ack. It is a
// child of the runtime's routes supervisor; each run subscribes anew.
type route struct {
	rt    *Runtime
	cfg   Route  // every default resolved
	label string // topic@subscription, as configured, for logs and errors
	name  string // the label made fit for pipeline and child names; see routeName
	inst  *otel.Instrumentation
	pipe  *stage.Pipeline
	dlq   *danube.Producer // set by the runtime for each of its runs; nil without a dead-letter topic

	// duplicates counts the redeliveries that the route's sources dropped
	// because the message was still in the pipeline, over every run.
	duplicates atomic.Int64

	mu  sync.Mutex
	src *Source // the source of the current subscription, nil between runs
}

func newRoute(rt *Runtime, cfg Route) (*route, error) {
	r := &route{
		rt:    rt,
		cfg:   cfg,
		label: routeLabel(cfg.Topic, cfg.SubscriptionName),
		name:  routeName(cfg.Topic, cfg.SubscriptionName),
	}

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

	observer := inst.StageObserver()
	observer.Settled = r.warnFailures(observer.Settled)
	r.pipe = stage.New(r.name, stage.Options{
		MaxInFlight:      rt.opts.MaxInFlight,
		MaxInFlightBytes: rt.opts.MaxInFlightBytes,
		DrainTimeout:     rt.cfg.DrainTimeout,
		Clock:            rt.clk,
		Observer:         observer,
		Logger:           rt.log,
		// The pipeline's supervisor runs nested in the runtime's, whose
		// hooks receive its events too.
	})
	flow := stage.From(r.pipe, StageReceive, stage.Source[*Record](routeSource{r}))
	if rt.opts.Transform != nil {
		flow = rt.opts.Transform(cfg, flow)
		if flow == (stage.Flow[*Record]{}) {
			return nil, fmt.Errorf("route %s: Options.Transform returned the zero Flow; return the flow it was given, or one that Then built from it", r.label)
		}
	}
	batches := stage.Batch(flow, StageBatch, stage.BatchOptions{
		MaxCount: rt.cfg.BatchSize,
		MaxBytes: rt.cfg.BatchMaxBytes,
		MaxWait:  rt.cfg.BatchTimeout,
	})
	initial := rt.cfg.RetryBackoff
	if initial == 0 {
		initial = -1 // the retry policy's value for retrying at once
	}
	stage.Write(batches, StageWrite, stage.Writer[*Record](r.newWriter()), stage.WriteOptions{
		Retry: stage.RetryPolicy{
			MaxAttempts: rt.cfg.MaxRetries + 1,
			Initial:     initial,
			Max:         max(rt.cfg.MaxBackoff, rt.cfg.RetryBackoff),
		},
	})
	if err := r.pipe.Err(); err != nil {
		// Options.Transform joined its stages wrongly. Report it now
		// rather than at the first Run.
		return nil, fmt.Errorf("route %s: %w", r.label, err)
	}
	return r, nil
}

// warnFailures returns the pipeline's Settled observer: next, if set,
// then a warning from the route's Source when messages were nacked or
// dead-lettered. A stage calls it once per chunk it settled, after
// settling every message of the chunk, so the ack stage warns once per
// written batch.
func (r *route) warnFailures(next func(stage string, acked, nacked, deadLettered int)) func(string, int, int, int) {
	return func(stage string, acked, nacked, deadLettered int) {
		if next != nil {
			next(stage, acked, nacked, deadLettered)
		}
		if nacked == 0 && deadLettered == 0 {
			return
		}
		if src := r.current(); src != nil {
			src.warnFailures()
		}
	}
}

// nameEscaper percent-encodes the characters that routeName must not
// leave in a subscription name.
var nameEscaper = strings.NewReplacer("%", "%25", "/", "%2F")

// routeName returns the name of a route's pipeline and supervisor child:
// its topic and subscription joined by '@'. Such names must not contain
// '/', the separator of supervisor paths. The topic loses its leading '/'
// and its other '/' becomes '.', which a valid topic name never contains.
// The subscription has '/' and '%' percent-encoded. So routes with
// different topics or subscriptions always get different names.
func routeName(topic, subscription string) string {
	return strings.ReplaceAll(strings.TrimPrefix(topic, "/"), "/", ".") + "@" + nameEscaper.Replace(subscription)
}

// newWriter returns the route's Writer: it writes to the runtime's
// connector, which the runtime opens and closes, and nacks everything
// once the runtime was forced to stop.
func (r *route) newWriter() *Writer {
	rt := r.rt
	w := &Writer{
		opts: WriterOptions{
			DeadLetter:      r.cfg.DeadLetterTopic != "",
			Instrumentation: r.inst,
		},
		state:  rt.state,
		clk:    rt.clk,
		forced: func() error { return context.Cause(rt.forceCtx()) },
	}
	w.init()
	return w
}

// current returns the route's source, nil between runs.
func (r *route) current() *Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.src
}

func (r *route) setCurrent(s *Source) {
	r.mu.Lock()
	r.src = s
	r.mu.Unlock()
}

// routeSource is the entry of a route's pipeline: the Source of the
// route's current subscription.
type routeSource struct {
	r *route
}

// Receive returns io.EOF when the consumer failed, a partition it gave up
// on: the pipeline then drains, and the route returns the failure so that
// its supervisor subscribes again. It also returns io.EOF once the runtime
// was forced to stop. A forced writer nacks every record, and the broker
// may send a nacked record back at once: taking it in again would nack it
// again, using up its redeliveries while the runtime stops.
func (rs routeSource) Receive(ctx context.Context, buf []stage.Msg[*Record]) (int, error) {
	src := rs.r.current()
	if src == nil {
		return 0, errors.New("the route has no subscription")
	}
	if rs.r.rt.forceCtx().Err() != nil {
		return 0, io.EOF
	}
	return src.Receive(ctx, buf)
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
	src := newSource(cons, SourceOptions{
		DeadLetter:      r.dlq,
		Connector:       rt.cfg.ConnectorName,
		Logger:          rt.log,
		Instrumentation: r.inst,
	}, rt.forceCtx(), false, &r.duplicates)
	r.setCurrent(src)
	defer r.setCurrent(nil)

	// Every route drains as soon as the runtime stops, rather than one
	// after the other as the supervisor stops its children.
	runCtx := rt.runCtx()
	pipeCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(runCtx, func() { cancel(context.Cause(runCtx)) })()

	err = r.pipe.Run(pipeCtx)

	sctx, scancel := context.WithTimeout(context.Background(), settleGrace)
	if cerr := src.Close(sctx); cerr != nil {
		rt.log.Warn("the route stopped before its acknowledgements reached the broker; the broker delivers those messages again",
			"route", r.label, "error", cerr)
	}
	scancel()
	_ = cons.Close() // always nil

	failure := src.Err()
	switch {
	case errors.Is(err, stage.ErrInvalidPipeline):
		// Options.Transform built a pipeline that cannot run: no restart
		// can fix it.
		rt.abort(fmt.Errorf("route %s: %w", r.label, err))
		return nil
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
