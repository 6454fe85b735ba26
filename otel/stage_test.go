package otel_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

type nopSettler struct{}

func (nopSettler) Ack()                       {}
func (nopSettler) Nack(time.Duration, string) {}
func (nopSettler) DeadLetter(string)          {}

// countSource hands out n messages carrying 0 to n-1, then io.EOF.
func countSource(n int) stage.Source[int] {
	next := 0
	return stage.SourceFunc[int](func(_ context.Context, buf []stage.Msg[int]) (int, error) {
		if next == n {
			return 0, io.EOF
		}
		k := min(len(buf), n-next)
		for i := range k {
			buf[i] = stage.NewMsg(next+i, 8, nopSettler{})
		}
		next += k
		return k, nil
	})
}

// flakyWriter fails its first call with a plain error and records the
// size of every call.
type flakyWriter struct {
	mu    sync.Mutex
	sizes []int
}

func (w *flakyWriter) Write(_ context.Context, batch []stage.Msg[int]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sizes = append(w.sizes, len(batch))
	if len(w.sizes) == 1 {
		return errors.New("server selection timed out")
	}
	return nil
}

func (w *flakyWriter) calls() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.sizes...)
}

func TestStageObserverCountsPipeline(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	p := stage.New("sink", stage.Options{Observer: rig.inst.StageObserver()})
	reg, err := rig.inst.ObservePipeline(p)
	if err != nil {
		t.Fatalf("ObservePipeline: %v", err)
	}
	defer func() { _ = reg.Unregister() }()

	w := &flakyWriter{}
	src := stage.From(p, "consume", countSource(10))
	filtered := stage.Then(src, "filter", stage.Filter(func(v int) bool { return v%5 != 0 }))
	stage.Write(stage.Batch(filtered, "batch", stage.BatchOptions{MaxCount: 4}), "write", w,
		stage.WriteOptions{Retry: stage.RetryPolicy{Initial: -1}})
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	calls := w.calls()
	if len(calls) < 2 {
		t.Fatalf("writer called %d times, want at least 2 (a failure and its retry)", len(calls))
	}
	attempted := 0
	for _, n := range calls {
		attempted += n
	}
	first := int64(calls[0])
	rm := rig.collect(t)
	of := func(name string) attribute.KeyValue { return otel.AttrStage.String(name) }
	ack := semconv.MessagingOperationName(otel.OperationAck)

	if got := sum(t, rm, otel.MetricStageReceived, of("consume")); got != 10 {
		t.Errorf("received by consume = %d, want 10", got)
	}
	if got := sum(t, rm, otel.MetricStageSent, of("filter")); got != 8 {
		t.Errorf("sent by filter = %d, want 8", got)
	}
	if got := sum(t, rm, otel.MetricMessagesSettled, ack); got != 10 {
		t.Errorf("acked = %d, want 10", got)
	}
	if got := sum(t, rm, otel.MetricMessagesSettled, of("filter"), ack); got != 2 {
		t.Errorf("acked by filter = %d, want 2 (the dropped messages)", got)
	}
	if got := sum(t, rm, otel.MetricMessagesSettled, semconv.MessagingOperationName(otel.OperationNack)); got != 0 {
		t.Errorf("nacked = %d, want 0", got)
	}
	retryable := semconv.ErrorTypeKey.String(string(otel.ClassRetryable))
	if got := sum(t, rm, otel.MetricMessagesFailed, of("write"), retryable); got != first {
		t.Errorf("failed retryable = %d, want %d (the first batch)", got, first)
	}
	if got := sum(t, rm, otel.MetricMessagesFailed); got != first {
		t.Errorf("failed in all classes = %d, want %d", got, first)
	}
	if got := sum(t, rm, otel.MetricMessagesRetried, of("write")); got != first {
		t.Errorf("retried = %d, want %d", got, first)
	}
	if n, s := histogram(t, rm, otel.MetricBatchSize, of("write")); n != uint64(len(calls)) || s != float64(attempted) {
		t.Errorf("batch size histogram: count %d sum %v, want %d and %d", n, s, len(calls), attempted)
	}
	if n, _ := histogram(t, rm, otel.MetricWriteDuration, of("write"), retryable); n != 1 {
		t.Errorf("failed write durations = %d, want 1", n)
	}
	if n, _ := histogram(t, rm, otel.MetricWriteDuration, of("write")); n != uint64(len(calls)) {
		t.Errorf("write durations = %d, want %d", n, len(calls))
	}
	if got, ok := gauge(t, rm, otel.MetricMessagesPending); !ok || got != 0 {
		t.Errorf("pending after the run = %d (found %v), want 0", got, ok)
	}
	for _, q := range p.Queues() {
		at := []attribute.KeyValue{otel.AttrQueueFrom.String(q.From), otel.AttrQueueTo.String(q.To)}
		if got, ok := gauge(t, rm, otel.MetricQueueCapacity, at...); !ok || got != int64(q.Cap) {
			t.Errorf("capacity of queue %s->%s = %d (found %v), want %d", q.From, q.To, got, ok, q.Cap)
		}
		if _, ok := gauge(t, rm, otel.MetricQueueDepth, at...); !ok {
			t.Errorf("no depth for queue %s->%s", q.From, q.To)
		}
	}
}

func TestStageObserverCarriesConnectorAttributes(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{Connector: "orders-sink", Topic: "/default/t", Subscription: "subs"})
	rig.inst.StageObserver().Received("consume", 3)

	rm := rig.collect(t)
	want := []attribute.KeyValue{
		semconv.MessagingSystemKey.String("danube"),
		otel.AttrConnector.String("orders-sink"),
		semconv.MessagingDestinationName("/default/t"),
		semconv.MessagingConsumerGroupName("subs"),
		otel.AttrStage.String("consume"),
	}
	if got := sum(t, rm, otel.MetricStageReceived, want...); got != 3 {
		t.Errorf("received with every attribute = %d, want 3", got)
	}
}

func TestStageObserverClassifiesFailures(t *testing.T) {
	base := errors.New("write failed")
	tests := []struct {
		name      string
		messages  int
		err       error
		classify  func(error) otel.ErrorClass
		retryable int64
		invalid   int64
		fatal     int64
	}{
		{name: "plain error fails every message", messages: 5, err: base, retryable: 5},
		{name: "redeliver is retryable", messages: 2, err: stage.Redeliver(time.Second, base), retryable: 2},
		{name: "fatal", messages: 3, err: stage.Fatal(base), fatal: 3},
		{name: "permanent is invalid data", messages: 3, err: stage.Permanent(base), invalid: 3},
		{name: "outermost mark wins", messages: 2, err: stage.Permanent(stage.Fatal(base)), invalid: 2},
		{
			name:     "batch error counts listed messages by their own class",
			messages: 10,
			err: &stage.BatchError{Failed: []stage.Failure{
				{Index: 1, Err: base},
				{Index: 4, Err: stage.Fatal(base)},
				{Index: 7, Err: base},
			}},
			retryable: 2, fatal: 1,
		},
		{
			name:     "custom classifier",
			messages: 4,
			err:      base,
			classify: func(error) otel.ErrorClass { return otel.ClassInvalidData },
			invalid:  4,
		},
		{
			name:      "unknown class from a classifier counts as retryable",
			messages:  4,
			err:       base,
			classify:  func(error) otel.ErrorClass { return "timeout" },
			retryable: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := newMetricsRig(t, otel.Options{Classify: tt.classify})
			rig.inst.StageObserver().Wrote("write", tt.messages, 0, time.Millisecond, tt.err)

			rm := rig.collect(t)
			class := func(c otel.ErrorClass) attribute.KeyValue { return semconv.ErrorTypeKey.String(string(c)) }
			if got := sum(t, rm, otel.MetricMessagesFailed, class(otel.ClassRetryable)); got != tt.retryable {
				t.Errorf("retryable = %d, want %d", got, tt.retryable)
			}
			if got := sum(t, rm, otel.MetricMessagesFailed, class(otel.ClassInvalidData)); got != tt.invalid {
				t.Errorf("invalid_data = %d, want %d", got, tt.invalid)
			}
			if got := sum(t, rm, otel.MetricMessagesFailed, class(otel.ClassFatal)); got != tt.fatal {
				t.Errorf("fatal = %d, want %d", got, tt.fatal)
			}
		})
	}
}

func TestStageObserverCountsSettlementsByOutcome(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	obs := rig.inst.StageObserver()
	obs.Settled(stage.AckStageName, 7, 2, 1)
	obs.Settled("", 0, 3, 0) // the pipeline's own clean-up

	rm := rig.collect(t)
	op := func(name string) attribute.KeyValue { return semconv.MessagingOperationName(name) }
	settle := semconv.MessagingOperationTypeSettle
	tests := []struct {
		name string
		at   []attribute.KeyValue
		want int64
	}{
		{"acked by the ack stage", []attribute.KeyValue{otel.AttrStage.String("ack"), op("ack"), settle}, 7},
		{"nacked in all", []attribute.KeyValue{op("nack")}, 5},
		{"dead-lettered", []attribute.KeyValue{op("dead_letter")}, 1},
	}
	for _, tt := range tests {
		if got := sum(t, rm, otel.MetricMessagesSettled, tt.at...); got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, got, tt.want)
		}
	}

	// The pipeline's own settlements carry no stage attribute.
	points := find(rm, otel.MetricMessagesSettled).Data.(metricdata.Sum[int64]).DataPoints
	var pipelineNacks int64
	for _, dp := range points {
		if _, has := dp.Attributes.Value(otel.AttrStage); !has {
			pipelineNacks += dp.Value
		}
	}
	if pipelineNacks != 3 {
		t.Errorf("settlements without a stage attribute = %d, want 3 (the pipeline's nacks)", pipelineNacks)
	}
}

func TestStageObserverIsZeroWithoutProviders(t *testing.T) {
	inst, err := otel.New(otel.Options{Connector: "mongo"})
	if err != nil {
		t.Fatal(err)
	}
	obs := inst.StageObserver()
	if obs.Received != nil || obs.Sent != nil || obs.Settled != nil || obs.Wrote != nil ||
		obs.Retrying != nil || obs.Failed != nil {
		t.Error("StageObserver without a meter provider has functions set; the stages would call them")
	}

	var nilInst *otel.Instrumentation
	if o := nilInst.StageObserver(); o.Received != nil {
		t.Error("StageObserver of a nil Instrumentation has functions set")
	}
}

func TestStageObserverRecordsWithoutAllocating(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	obs := rig.inst.StageObserver()
	invalid := stage.Permanent(errors.New("bad payload"))
	chunk := func() {
		obs.Received("map", 128)
		obs.Sent("map", 128)
		obs.Settled(stage.AckStageName, 120, 5, 3)
		obs.Wrote("write", 1000, 64000, time.Millisecond, nil)
		obs.Retrying("write", 1000, 2)
		obs.Failed("map", 3, invalid)
	}
	chunk() // the first call of a stage makes its attribute sets
	if n := testing.AllocsPerRun(100, chunk); n != 0 {
		t.Errorf("observer calls of one chunk allocate %v times, want 0", n)
	}
}

// failingWriter fails every call with err.
func failingWriter(err error) stage.Writer[int] {
	return stage.WriterFunc[int](func(context.Context, []stage.Msg[int]) error { return err })
}

func TestStageObserverCountsRetriesMade(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	p := stage.New("sink", stage.Options{Observer: rig.inst.StageObserver()})
	src := stage.From(p, "consume", countSource(4))
	// Three attempts of one batch of 4, then the stage gives up and nacks.
	stage.Write(stage.Batch(src, "batch", stage.BatchOptions{}), "write", failingWriter(errors.New("timed out")),
		stage.WriteOptions{Retry: stage.RetryPolicy{MaxAttempts: 3, Initial: -1}})
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	rm := rig.collect(t)
	write := otel.AttrStage.String("write")
	if got := sum(t, rm, otel.MetricMessagesRetried, write); got != 8 {
		t.Errorf("retried = %d, want 8: two retries of 4 messages, none for the attempt before the nack", got)
	}
	retryable := semconv.ErrorTypeKey.String(string(otel.ClassRetryable))
	if got := sum(t, rm, otel.MetricMessagesFailed, write, retryable); got != 12 {
		t.Errorf("failed retryable = %d, want 12: three failed attempts of 4 messages", got)
	}
	if got := sum(t, rm, otel.MetricMessagesSettled, semconv.MessagingOperationName(otel.OperationNack)); got != 4 {
		t.Errorf("nacked = %d, want 4", got)
	}
}

func TestStageObserverCountsTransformFailures(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	p := stage.New("sink", stage.Options{Observer: rig.inst.StageObserver()})
	src := stage.From(p, "consume", countSource(10))
	decoded := stage.Then(src, "decode", stage.Map(func(_ context.Context, v int) (int, error) {
		switch v % 5 {
		case 1:
			return 0, errors.New("bad payload") // dead-lettered, so invalid data
		case 2:
			return 0, stage.Redeliver(time.Second, errors.New("lookup failed"))
		}
		return v, nil
	}))
	stage.Write(stage.Batch(decoded, "batch", stage.BatchOptions{}), "write", failingWriter(nil), stage.WriteOptions{})
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	rm := rig.collect(t)
	decode := otel.AttrStage.String("decode")
	class := func(c otel.ErrorClass) attribute.KeyValue { return semconv.ErrorTypeKey.String(string(c)) }
	if got := sum(t, rm, otel.MetricMessagesFailed, decode, class(otel.ClassInvalidData)); got != 2 {
		t.Errorf("invalid_data failures of decode = %d, want 2", got)
	}
	if got := sum(t, rm, otel.MetricMessagesFailed, decode, class(otel.ClassRetryable)); got != 2 {
		t.Errorf("retryable failures of decode = %d, want 2", got)
	}
	if got := sum(t, rm, otel.MetricMessagesFailed); got != 4 {
		t.Errorf("failed in all = %d, want 4", got)
	}
}
