package otel

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// stageAttrs holds the measurement options of one stage, made once.
type stageAttrs struct {
	plain       attrOpts // base + stage
	ack         attrOpts // + settle, ack
	nack        attrOpts // + settle, nack
	deadLetter  attrOpts // + settle, dead_letter
	retryable   attrOpts // + error.type
	invalidData attrOpts
	fatal       attrOpts
}

// stageAttrsOf returns the options of the stage named name. Stage "" is
// the pipeline itself, and its measurements carry no stage attribute.
//
// The options live in a map that is copied on each new name and read
// without a lock: stage names are few and fixed, so after the first chunk
// of each stage every call is a plain map read.
func (in *Instrumentation) stageAttrsOf(name string) *stageAttrs {
	if m := in.stages.Load(); m != nil {
		if a, ok := (*m)[name]; ok {
			return a
		}
	}

	in.stagesMu.Lock()
	defer in.stagesMu.Unlock()
	old := in.stages.Load()
	if old != nil {
		if a, ok := (*old)[name]; ok {
			return a
		}
	}
	a := in.newStageAttrs(name)
	m := make(map[string]*stageAttrs, 8)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = a
	in.stages.Store(&m)
	return a
}

func (in *Instrumentation) newStageAttrs(name string) *stageAttrs {
	var kv []attribute.KeyValue
	if name != "" {
		kv = append(kv, AttrStage.String(name))
	}
	settle := func(op string) attrOpts {
		return in.with(append(kv, semconv.MessagingOperationTypeSettle, semconv.MessagingOperationName(op))...)
	}
	class := func(c ErrorClass) attrOpts {
		return in.with(append(kv, semconv.ErrorTypeKey.String(string(c)))...)
	}
	return &stageAttrs{
		plain:       in.with(kv...),
		ack:         settle(OperationAck),
		nack:        settle(OperationNack),
		deadLetter:  settle(OperationDeadLetter),
		retryable:   class(ClassRetryable),
		invalidData: class(ClassInvalidData),
		fatal:       class(ClassFatal),
	}
}

// StageObserver returns the observer to set as stage.Options.Observer. It
// counts the messages each stage receives, sends and settles, the failed
// messages of each write attempt and of each Map or FlatMap function, and
// the messages each write stage writes again after a failed attempt. It
// records the size and duration of every write attempt, and feeds
// Options.Throughput if set.
//
// When the instrumentation has no meter provider (or the API's no-op one)
// and no throughput logger, it returns the zero stage.Observer, with which
// the stages make no call at all. Otherwise each call costs a map lookup
// and the recording, once per chunk or batch, never per message. An
// observer serves one pipeline: two pipelines with stages of the same name
// would add up in the same series.
func (in *Instrumentation) StageObserver() stage.Observer {
	if in == nil || (!in.metering && in.opts.Throughput == nil) {
		return stage.Observer{}
	}
	return stage.Observer{
		Received: in.stageReceivedN,
		Sent:     in.stageSentN,
		Settled:  in.stageSettled,
		Wrote:    in.stageWrote,
		Retrying: in.stageRetrying,
		Failed:   in.stageFailed,
	}
}

func (in *Instrumentation) stageReceivedN(name string, n int) {
	in.stageReceived.Add(context.Background(), int64(n), in.stageAttrsOf(name).plain.add...)
}

func (in *Instrumentation) stageSentN(name string, n int) {
	in.stageSent.Add(context.Background(), int64(n), in.stageAttrsOf(name).plain.add...)
}

func (in *Instrumentation) stageSettled(name string, acked, nacked, deadLettered int) {
	ctx := context.Background()
	a := in.stageAttrsOf(name)
	if acked > 0 {
		in.settled.Add(ctx, int64(acked), a.ack.add...)
	}
	if nacked > 0 {
		in.settled.Add(ctx, int64(nacked), a.nack.add...)
	}
	if deadLettered > 0 {
		in.settled.Add(ctx, int64(deadLettered), a.deadLetter.add...)
	}
}

// stageWrote records one write attempt of n messages that took elapsed and
// returned err.
func (in *Instrumentation) stageWrote(name string, n, _ int, elapsed time.Duration, err error) {
	ctx := context.Background()
	a := in.stageAttrsOf(name)

	in.batchSize.Record(ctx, int64(n), a.plain.record...)
	if err == nil {
		in.writeDuration.Record(ctx, elapsed.Seconds(), a.plain.record...)
		in.opts.Throughput.Add(n, 0)
		return
	}

	retryable, invalid, fatal := failedCounts(in.opts.Classify, n, err)
	switch {
	case fatal > 0:
		in.writeDuration.Record(ctx, elapsed.Seconds(), a.fatal.record...)
	case invalid > 0 && retryable == 0:
		in.writeDuration.Record(ctx, elapsed.Seconds(), a.invalidData.record...)
	default:
		in.writeDuration.Record(ctx, elapsed.Seconds(), a.retryable.record...)
	}
	if retryable > 0 {
		in.failed.Add(ctx, int64(retryable), a.retryable.add...)
	}
	if invalid > 0 {
		in.failed.Add(ctx, int64(invalid), a.invalidData.add...)
	}
	if fatal > 0 {
		in.failed.Add(ctx, int64(fatal), a.fatal.add...)
	}
	failed := retryable + invalid + fatal
	in.opts.Throughput.Add(max(n-failed, 0), failed)
}

// stageRetrying counts the n messages a write stage is about to write
// again. The stage calls it once per retry it makes, not when it gives up.
func (in *Instrumentation) stageRetrying(name string, n, _ int) {
	in.retried.Add(context.Background(), int64(n), in.stageAttrsOf(name).plain.add...)
}

// stageFailed counts n messages that a Map or FlatMap function failed on,
// in the class of err under Options.Classify.
func (in *Instrumentation) stageFailed(name string, n int, err error) {
	a := in.stageAttrsOf(name)
	at := a.retryable
	switch in.opts.Classify(err) {
	case ClassFatal:
		at = a.fatal
	case ClassInvalidData:
		at = a.invalidData
	}
	in.failed.Add(context.Background(), int64(n), at.add...)
}

// PipelineState is the source of the gauges of ObservePipeline, read on
// each collection. A *stage.Pipeline implements it.
type PipelineState interface {
	// Stats returns the pipeline's counters, of which the gauges read
	// InFlight and InFlightBytes.
	Stats() stage.Stats
	// Queues returns the depth and capacity of every channel between
	// the pipeline's stages.
	Queues() []stage.Queue
}

// ObservePipeline registers the asynchronous gauges of p: the messages and
// bytes in flight (admitted, not yet settled, so not yet acknowledged) and
// the depth and capacity of every channel between its stages. The meter
// reads them on each collection, not before, so they cost nothing between
// scrapes. Call Unregister on the result when the pipeline is gone.
func (in *Instrumentation) ObservePipeline(p PipelineState) (metric.Registration, error) {
	if in == nil || !in.metering {
		return noRegistration{}, nil
	}
	var mu sync.Mutex // readers may collect concurrently
	queues := make(map[[2]string]metric.ObserveOption)
	callback := func(_ context.Context, o metric.Observer) error {
		st := p.Stats()
		o.ObserveInt64(in.pending, st.InFlight, metric.WithAttributeSet(in.baseSet))
		o.ObserveInt64(in.pendingSize, st.InFlightBytes, metric.WithAttributeSet(in.baseSet))
		mu.Lock()
		defer mu.Unlock()
		for _, q := range p.Queues() {
			key := [2]string{q.From, q.To}
			opt, ok := queues[key]
			if !ok {
				kv := append(in.Attributes(), AttrQueueFrom.String(q.From), AttrQueueTo.String(q.To))
				opt = metric.WithAttributeSet(attribute.NewSet(kv...))
				queues[key] = opt
			}
			o.ObserveInt64(in.queueDepth, int64(q.Len), opt)
			o.ObserveInt64(in.queueCapacity, int64(q.Cap), opt)
		}
		return nil
	}
	return in.meter.RegisterCallback(callback, in.pending, in.pendingSize, in.queueDepth, in.queueCapacity)
}

// noRegistration is the registration of a callback that was not
// registered because nothing would read it.
type noRegistration struct{ metric.Registration }

func (noRegistration) Unregister() error { return nil }
