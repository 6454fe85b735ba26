package otel_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// The pipeline benchmarks have the shape of the stage package's own: a
// source of small messages, a map, a filter, a batcher of 1,000 and a
// writer that does nothing. The instrumentation's cost is then as large a
// share of the work as it can be. One op is one message, and the variants
// compare in ns/op within one run:
//
//   - Bare: no observer.
//   - NoopProvider: the API's no-op provider given explicitly, which New
//     recognises, so the stages get the zero Observer: what an
//     uninstrumented user pays.
//   - NoopInstruments: a no-op provider that New cannot recognise, so
//     every observer function runs and records into no-op instruments:
//     the cost of the observer itself.
//   - SDK: the OpenTelemetry SDK with a manual reader: the cost of real
//     metrics.

// opaqueMeterProvider hides a provider's type from New's no-op check.
type opaqueMeterProvider struct{ metric.MeterProvider }

func benchmarkPipeline(b *testing.B, mp metric.MeterProvider) {
	b.ReportAllocs()
	opts := stage.Options{}
	if mp != nil {
		inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "bench", Topic: "/default/bench", Subscription: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		opts.Observer = inst.StageObserver()
	}

	written := 0
	p := stage.New("bench", opts)
	src := stage.From(p, "source", countSource(b.N))
	mapped := stage.Then(src, "map", stage.Map(func(_ context.Context, v int) (int, error) { return v + 1, nil }))
	filtered := stage.Then(mapped, "filter", stage.Filter(func(v int) bool { return v >= 0 }))
	stage.Write(stage.Batch(filtered, "batch", stage.BatchOptions{MaxCount: 1000}), "write",
		stage.WriterFunc[int](func(_ context.Context, batch []stage.Msg[int]) error {
			written += len(batch)
			return nil
		}), stage.WriteOptions{})

	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if written != b.N {
		b.Fatalf("wrote %d of %d messages", written, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

func BenchmarkPipelineBare(b *testing.B) { benchmarkPipeline(b, nil) }

func BenchmarkPipelineNoopProvider(b *testing.B) {
	benchmarkPipeline(b, metricnoop.NewMeterProvider())
}

func BenchmarkPipelineNoopInstruments(b *testing.B) {
	benchmarkPipeline(b, opaqueMeterProvider{metricnoop.NewMeterProvider()})
}

func BenchmarkPipelineSDK(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	benchmarkPipeline(b, mp)
}

// BenchmarkStartBatchSpanNoop is the per-batch cost of StartBatchSpan and
// EndSpan without a tracer provider.
func BenchmarkStartBatchSpanNoop(b *testing.B) {
	inst, err := otel.New(otel.Options{Connector: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	attrs := func(int) map[string]string { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := inst.StartBatchSpan(ctx, "/default/bench", 1000, attrs)
		inst.EndSpan(span, nil)
	}
}

// BenchmarkInjectTraceWithoutSpan is the per-message cost of InjectTrace
// in a source that runs without tracing.
func BenchmarkInjectTraceWithoutSpan(b *testing.B) {
	ctx := context.Background()
	attrs := map[string]string{"k": "v"}
	b.ReportAllocs()
	for b.Loop() {
		otel.InjectTrace(ctx, attrs)
	}
}

// BenchmarkStageObserverCalls is the cost of one chunk's observer calls
// (received, sent, settled) and one write's, into no-op instruments and
// into the SDK.
func BenchmarkStageObserverCalls(b *testing.B) {
	sdk := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	providers := []struct {
		name string
		mp   metric.MeterProvider
	}{
		{"NoopInstruments", opaqueMeterProvider{metricnoop.NewMeterProvider()}},
		{"SDK", sdk},
	}
	for _, p := range providers {
		b.Run(p.name, func(b *testing.B) {
			inst, err := otel.New(otel.Options{MeterProvider: p.mp, Connector: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			obs := inst.StageObserver()
			b.ReportAllocs()
			for b.Loop() {
				obs.Received("map", 128)
				obs.Sent("map", 128)
				obs.Settled(stage.AckStageName, 128, 0, 0)
				obs.Wrote("write", 1000, 64000, time.Millisecond, nil)
			}
		})
	}
}

// BenchmarkStartBatchSpanSDK is the cost of a batch span of 100 traced
// messages, all linked, with the SDK recording it.
func BenchmarkStartBatchSpanSDK(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	inst, err := otel.New(otel.Options{Connector: "bench", TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	attrs := make([]map[string]string, 100)
	for i := range attrs {
		ctx, span := tp.Tracer("bench").Start(context.Background(), "publish")
		attrs[i] = otel.InjectTrace(ctx, nil)
		span.End()
	}
	attrsOf := func(i int) map[string]string { return attrs[i] }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := inst.StartBatchSpan(ctx, "/default/bench", len(attrs), attrsOf)
		inst.EndSpan(span, nil)
	}
}
