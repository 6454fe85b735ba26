package otel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// DefaultMaxLinks bounds the links of a batch span when Options.MaxLinks
// is 0. It matches the default link limit of the OpenTelemetry SDK, which
// would drop the links past it anyway.
const DefaultMaxLinks = 128

// Options configures New.
type Options struct {
	// MeterProvider makes the meter of every metric. Nil means no metrics:
	// a no-op provider, and a stage observer that observes nothing.
	MeterProvider metric.MeterProvider

	// TracerProvider makes the tracer of every span. Nil means no traces:
	// the span helpers return at once and extract nothing.
	TracerProvider trace.TracerProvider

	// Connector names the connector, as the attribute
	// danube.connector.name on every metric. Required.
	Connector string

	// Topic is the topic the connector consumes or publishes to, as the
	// attribute messaging.destination.name; "" leaves it out. A connector
	// that serves several topics makes one Instrumentation for each.
	Topic string

	// Subscription is the subscription a sink consumes on, as the
	// attribute messaging.consumer.group.name; "" leaves it out.
	Subscription string

	// Classify returns the class of a failure that a stage reports, for
	// the attribute error.type. Nil means StageClass, which reads the
	// marks of the stage package. A runtime whose errors carry classes of
	// their own passes a function that reads them.
	Classify func(error) ErrorClass

	// Throughput, when set, is fed by the stage observer with the messages
	// each write stage wrote or failed to write, so that one observer
	// serves both metrics and the throughput log line.
	Throughput *ThroughputLogger

	// MaxLinks bounds the links that StartBatchSpan adds to a batch span,
	// DefaultMaxLinks when 0. The span's messaging.batch.message_count
	// still gives the size of the whole batch.
	MaxLinks int
}

// Instrumentation holds the instruments of one connector: the metrics of
// its pipeline and supervision tree, and its tracer. Make one with New,
// then hand its adapters to the pieces that report: SupervisorHook to the
// supervisor, StageObserver and ObservePipeline to the stage pipeline, the
// span helpers and RecordReceive or RecordSend to the runtime.
//
// An Instrumentation is safe for concurrent use. Its zero value is not
// usable; a nil *Instrumentation is, and records nothing, so that a
// runtime can hold one unconditionally.
type Instrumentation struct {
	opts     Options
	meter    metric.Meter
	tracer   trace.Tracer
	metering bool // false when the meter provider is a no-op
	tracing  bool // false when the tracer provider is a no-op
	maxLinks int

	// base is the attribute set of every connector metric; client is that
	// of the messaging.client metrics.
	base    []attribute.KeyValue
	baseSet attribute.Set

	stageReceived metric.Int64Counter
	stageSent     metric.Int64Counter
	settled       metric.Int64Counter
	failed        metric.Int64Counter
	retried       metric.Int64Counter
	redelivered   metric.Int64Counter
	duplicates    metric.Int64Counter
	pending       metric.Int64ObservableGauge
	pendingSize   metric.Int64ObservableGauge
	queueDepth    metric.Int64ObservableGauge
	queueCapacity metric.Int64ObservableGauge
	batchSize     metric.Int64Histogram
	writeDuration metric.Float64Histogram
	lag           metric.Float64Histogram

	restarts      metric.Int64Counter
	failures      metric.Int64Counter
	panics        metric.Int64Counter
	giveUps       metric.Int64Counter
	eventsDropped metric.Int64Counter

	consumed          metric.Int64Counter
	sent              metric.Int64Counter
	operationDuration metric.Float64Histogram

	// stages caches the measurement options of each stage name, and paths
	// those of each child path, so that a hot call allocates nothing.
	stages   atomic.Pointer[map[string]*stageAttrs]
	stagesMu sync.Mutex // serializes the copies of stages
	paths    sync.Map   // string -> attrOpts

	client clientAttrs
}

// The bucket boundaries of the histograms. Batch sizes span one message to
// the largest batches a MongoDB bulk write takes. Write durations span a
// local write to a write that waits out a server selection timeout.
var (
	batchSizeBuckets     = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
	writeDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// Lag spans a connector that keeps up to one that is a day behind.
	lagBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
)

// New returns the instrumentation of one connector. It creates every
// instrument once, here, so that recording later costs no lookup; with nil
// providers it creates no-op instruments and costs nothing to call. It
// fails when Connector is empty or a provider rejects an instrument.
func New(opts Options) (*Instrumentation, error) {
	if opts.Connector == "" {
		return nil, errors.New("otel: empty connector name; set Options.Connector")
	}
	if opts.MaxLinks < 0 {
		return nil, fmt.Errorf("otel: MaxLinks %d is negative", opts.MaxLinks)
	}

	in := &Instrumentation{opts: opts, maxLinks: opts.MaxLinks}
	if in.maxLinks == 0 {
		in.maxLinks = DefaultMaxLinks
	}
	if in.opts.Classify == nil {
		in.opts.Classify = StageClass
	}

	mp := opts.MeterProvider
	in.metering = mp != nil && !isNoopMeterProvider(mp)
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	in.meter = mp.Meter(ScopeName)

	tp := opts.TracerProvider
	in.tracing = tp != nil && !isNoopTracerProvider(tp)
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	in.tracer = tp.Tracer(ScopeName)

	in.base = []attribute.KeyValue{systemAttr, AttrConnector.String(opts.Connector)}
	if opts.Topic != "" {
		in.base = append(in.base, semconv.MessagingDestinationName(opts.Topic))
	}
	if opts.Subscription != "" {
		in.base = append(in.base, semconv.MessagingConsumerGroupName(opts.Subscription))
	}
	in.baseSet = attribute.NewSet(in.base...)

	if err := in.createInstruments(); err != nil {
		return nil, fmt.Errorf("otel: create instruments of connector %s: %w", opts.Connector, err)
	}
	in.client = in.newClientAttrs()
	return in, nil
}

// createInstruments creates every instrument on in.meter, joining the
// errors of those that failed.
func (in *Instrumentation) createInstruments() error {
	m := in.meter
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	in.stageReceived = counter(MetricStageReceived, "{message}", "Messages each stage took from its input.")
	in.stageSent = counter(MetricStageSent, "{message}", "Messages each stage passed to the next.")
	in.settled = counter(MetricMessagesSettled, "{message}", "Settled messages by outcome: ack, nack or dead_letter.")
	in.failed = counter(MetricMessagesFailed, "{message}", "Messages of failed writes and transforms by error class.")
	in.retried = counter(MetricMessagesRetried, "{message}", "Messages written again after a failed attempt.")
	in.redelivered = counter(MetricMessagesRedelivered, "{message}", "Messages the broker delivered more than once.")
	in.duplicates = counter(MetricMessagesDuplicates, "{message}", "Redeliveries dropped on receipt because the first delivery was still in the pipeline.")
	in.pending = gauge(MetricMessagesPending, "{message}", "Messages admitted and not yet settled.")
	in.pendingSize = gauge(MetricPendingSize, "By", "Bytes of the messages admitted and not yet settled.")
	in.queueDepth = gauge(MetricQueueDepth, "{chunk}", "Chunks waiting in the channel between two stages.")
	in.queueCapacity = gauge(MetricQueueCapacity, "{chunk}", "Capacity of the channel between two stages.")

	var err error
	in.batchSize, err = m.Int64Histogram(MetricBatchSize, metric.WithUnit("{message}"),
		metric.WithDescription("Messages in each write attempt."),
		metric.WithExplicitBucketBoundaries(batchSizeBuckets...))
	errs = append(errs, err)
	in.writeDuration, err = m.Float64Histogram(MetricWriteDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each write attempt."),
		metric.WithExplicitBucketBoundaries(writeDurationBuckets...))
	errs = append(errs, err)
	in.lag, err = m.Float64Histogram(MetricLag, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message of each batch when it was written."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	errs = append(errs, err)

	in.restarts = counter(MetricSupervisorRestarts, "{restart}", "Restarts of each child of the supervision tree.")
	in.failures = counter(MetricSupervisorFailures, "{failure}", "Children that returned an error; panics count apart.")
	in.panics = counter(MetricSupervisorPanics, "{panic}", "Children whose Run panicked.")
	in.giveUps = counter(MetricSupervisorGiveUps, "{give_up}", "Supervisors that exceeded their restart intensity.")
	in.eventsDropped = counter(MetricSupervisorEventsDropped, "{event}", "Supervisor events that hooks missed.")

	in.consumed = counter(MetricClientConsumed, "{message}", "Messages received from the broker.")
	in.sent = counter(MetricClientSent, "{message}", "Messages published to the broker.")
	in.operationDuration, err = m.Float64Histogram(MetricClientOperationDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each publish to the broker."),
		metric.WithExplicitBucketBoundaries(writeDurationBuckets...))
	errs = append(errs, err)

	return errors.Join(errs...)
}

// Meter returns the meter of the instrumentation, for a runtime that adds
// metrics of its own under the same scope.
func (in *Instrumentation) Meter() metric.Meter { return in.meter }

// Tracer returns the tracer of the instrumentation.
func (in *Instrumentation) Tracer() trace.Tracer { return in.tracer }

// Attributes returns the attributes that every connector metric carries:
// messaging.system, danube.connector.name, and the topic and subscription
// when they were given. The caller may modify the returned slice.
func (in *Instrumentation) Attributes() []attribute.KeyValue {
	return append([]attribute.KeyValue(nil), in.base...)
}

// attrOpts holds one attribute set as the option slices that Add and
// Record take. Passing a slice made once, rather than a single option to
// the variadic parameter, keeps every call from allocating the slice:
// through an interface method it escapes.
type attrOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// with returns the options of the base attributes plus kvs.
func (in *Instrumentation) with(kvs ...attribute.KeyValue) attrOpts {
	all := make([]attribute.KeyValue, 0, len(in.base)+len(kvs))
	all = append(append(all, in.base...), kvs...)
	opt := metric.WithAttributeSet(attribute.NewSet(all...))
	return attrOpts{add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}}
}

// isNoopMeterProvider reports whether mp is the no-op provider of the
// OpenTelemetry API, whose instruments record nothing.
func isNoopMeterProvider(mp metric.MeterProvider) bool {
	switch mp.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return true
	}
	return false
}

// isNoopTracerProvider reports whether tp is a no-op provider of the
// OpenTelemetry API, whose spans never record.
func isNoopTracerProvider(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return true
	}
	return false
}
