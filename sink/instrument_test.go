package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/otel"
)

func TestBatchSpanLinksMessageTraces(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	conn := newTestConn()
	var writeSpan trace.SpanContext
	conn.write = func(_ int, _ []*Record) error { return nil }
	cfg := e.config(testTopic, testSub)
	r := start(t, conn, cfg, Options{TracerProvider: tp})
	r.waitReady(t)

	// Three messages published under three producer spans.
	producerTracer := tp.Tracer("test-producer")
	p, err := e.client.NewProducer(context.Background(), danube.ProducerOptions{Topic: testTopic, Reliable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var sent []trace.SpanContext
	for i := range 3 {
		ctx, span := producerTracer.Start(context.Background(), fmt.Sprintf("publish %d", i))
		sent = append(sent, span.SpanContext())
		msg := danube.Message{Payload: []byte("m"), Attributes: otel.InjectTrace(ctx, nil)}
		if err := p.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	conn.waitUntil(t, "the records are written", func(c *testConn) bool { return c.distinct(testTopic) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	linked := make(map[trace.SpanID]bool)
	batches := 0
	for _, s := range spans.Ended() {
		if s.Name() != "process "+testTopic {
			continue
		}
		batches++
		writeSpan = s.SpanContext()
		if s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("batch span kind %v, want consumer", s.SpanKind())
		}
		for _, l := range s.Links() {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	if batches == 0 || !writeSpan.IsValid() {
		t.Fatalf("no batch span among %d ended spans", len(spans.Ended()))
	}
	for i, sc := range sent {
		if !linked[sc.SpanID()] {
			t.Errorf("no batch span links the span of message %d", i)
		}
	}
}

func TestMetricsCountSettledRecords(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	conn := newTestConn()
	conn.write = func(_ int, batch []*Record) error {
		return failAt(batch, InvalidData(errors.New("bad")), 1)
	}
	cfg := e.config(testTopic, testSub)
	r := start(t, conn, cfg, Options{MeterProvider: mp})
	r.waitReady(t)
	e.publish(testTopic, "m", 3)
	conn.waitUntil(t, "the valid records are written", func(c *testConn) bool { return len(c.ok) == 2 })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	settled := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != otel.MetricMessagesSettled {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T, want a sum of int64", m.Name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				op, _ := dp.Attributes.Value(attribute.Key("messaging.operation.name"))
				settled[op.AsString()] += dp.Value
			}
		}
	}
	// Without a dead-letter topic the invalid record is nacked at each of
	// its deliveries, until the broker drops it after MaxRedeliveries.
	if settled[otel.OperationAck] != 2 || settled[otel.OperationNack] < 1 || settled[otel.OperationDeadLetter] != 0 {
		t.Errorf("settled by operation %v, want 2 acks, nacks and no dead letter", settled)
	}
}
