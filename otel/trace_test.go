package otel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/otel"
)

// newTracing returns a tracer provider that records every span in the
// returned exporter as it ends.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// spansNamed returns the ended spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func attrValue(attrs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestTraceFollowsMessageFromPublishToWrite plays both runtimes against an
// in-process broker. A source publishes three messages, each in a span of
// its own whose context travels in the message's attributes. A sink writes
// the three in one batch span linked to all three, and the database write
// is a child of the batch span.
func TestTraceFollowsMessageFromPublishToWrite(t *testing.T) {
	const topic = "/default/orders"
	tp, exp := newTracing(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	source, err := otel.New(otel.Options{Connector: "orders-source", TracerProvider: tp, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := otel.New(otel.Options{Connector: "mongo", TracerProvider: tp, Topic: topic, Subscription: "mongo-sink"})
	if err != nil {
		t.Fatal(err)
	}

	broker := danubetest.Start(t)
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: topic, Subscription: "mongo-sink"})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	// The source runtime: one producer span per message.
	const n = 3
	for i := range n {
		sendCtx, span := source.StartPublishSpan(ctx, topic)
		attrs := otel.InjectTrace(sendCtx, map[string]string{"order": fmt.Sprint(i)})
		err := producer.Send(sendCtx, danube.Message{Payload: []byte(fmt.Sprintf(`{"order":%d}`, i)), Attributes: attrs})
		source.EndSpan(span, err)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	// The sink runtime: one batch span for the three, the write under it.
	var batch []*danube.Message
	for len(batch) < n {
		m, err := consumer.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		batch = append(batch, m)
	}
	writeCtx, span := sink.StartBatchSpan(ctx, topic, len(batch), func(i int) map[string]string { return batch[i].Attributes })
	_, write := tp.Tracer("mongodb-driver").Start(writeCtx, "insert orders",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(semconv.DBSystemNameMongoDB))
	write.End()
	sink.EndSpan(span, nil)
	for _, m := range batch {
		if err := consumer.Ack(ctx, m); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}

	publishes := spansNamed(exp, "send "+topic)
	if len(publishes) != n {
		t.Fatalf("%d publish spans, want %d", len(publishes), n)
	}
	batches := spansNamed(exp, "process "+topic)
	if len(batches) != 1 {
		t.Fatalf("%d batch spans, want 1", len(batches))
	}
	writes := spansNamed(exp, "insert orders")
	if len(writes) != 1 {
		t.Fatalf("%d write spans, want 1", len(writes))
	}
	b, w := batches[0], writes[0]

	if b.SpanKind != trace.SpanKindConsumer {
		t.Errorf("batch span kind = %v, want consumer", b.SpanKind)
	}
	if v, _ := attrValue(b.Attributes, semconv.MessagingBatchMessageCountKey); v.AsInt64() != n {
		t.Errorf("batch span message count = %v, want %d", v.String(), n)
	}
	if v, _ := attrValue(b.Attributes, semconv.MessagingConsumerGroupNameKey); v.AsString() != "mongo-sink" {
		t.Errorf("batch span subscription = %q, want mongo-sink", v.AsString())
	}
	if b.Parent.IsValid() {
		t.Errorf("batch span has parent %v; messages must be links, not parents", b.Parent.SpanID())
	}
	if w.Parent.SpanID() != b.SpanContext.SpanID() || w.SpanContext.TraceID() != b.SpanContext.TraceID() {
		t.Errorf("write span parent = %v in trace %v, want the batch span %v", w.Parent.SpanID(), w.SpanContext.TraceID(), b.SpanContext.SpanID())
	}

	// Every message's trace reaches the batch through a link.
	linked := make(map[trace.SpanID]trace.TraceID)
	for _, l := range b.Links {
		linked[l.SpanContext.SpanID()] = l.SpanContext.TraceID()
	}
	if len(b.Links) != n {
		t.Errorf("batch span has %d links, want %d", len(b.Links), n)
	}
	for _, p := range publishes {
		if p.SpanKind != trace.SpanKindProducer {
			t.Errorf("publish span kind = %v, want producer", p.SpanKind)
		}
		tid, ok := linked[p.SpanContext.SpanID()]
		if !ok || tid != p.SpanContext.TraceID() {
			t.Errorf("publish span %v of trace %v is not linked from the batch", p.SpanContext.SpanID(), p.SpanContext.TraceID())
		}
	}
	// The message the broker delivered carries the publish span's context.
	for _, m := range batch {
		sc := otel.SpanContextOf(m.Attributes)
		if !sc.IsValid() || !sc.IsRemote() {
			t.Errorf("received message %s carries no remote span context: %v", m.Attributes["order"], m.Attributes)
		}
		if m.Attributes["order"] == "" {
			t.Errorf("the message's own attributes were lost: %v", m.Attributes)
		}
	}
}

func TestStartBatchSpanBoundsAndDeduplicatesLinks(t *testing.T) {
	tp, exp := newTracing(t)
	inst, err := otel.New(otel.Options{Connector: "mongo", TracerProvider: tp, MaxLinks: 2})
	if err != nil {
		t.Fatal(err)
	}

	var attrs []map[string]string
	for range 3 {
		ctx, span := tp.Tracer("test").Start(context.Background(), "publish")
		m := otel.InjectTrace(ctx, nil)
		span.End()
		attrs = append(attrs, m, m) // each context twice
	}
	attrs = append([]map[string]string{nil, {"other": "x"}}, attrs...) // messages without a context

	_, span := inst.StartBatchSpan(context.Background(), "/default/t", len(attrs), func(i int) map[string]string { return attrs[i] })
	inst.EndSpan(span, nil)

	b := spansNamed(exp, "process /default/t")
	if len(b) != 1 {
		t.Fatalf("%d batch spans, want 1", len(b))
	}
	if len(b[0].Links) != 2 {
		t.Fatalf("%d links, want 2 (MaxLinks)", len(b[0].Links))
	}
	if b[0].Links[0].SpanContext.SpanID() == b[0].Links[1].SpanContext.SpanID() {
		t.Error("the same span context is linked twice")
	}
	if want := otel.SpanContextOf(attrs[2]); b[0].Links[0].SpanContext.SpanID() != want.SpanID() {
		t.Error("links are not in batch order")
	}
	if v, _ := attrValue(b[0].Attributes, semconv.MessagingBatchMessageCountKey); v.AsInt64() != int64(len(attrs)) {
		t.Errorf("message count = %v, want %d, the whole batch", v.String(), len(attrs))
	}
}

func TestEndSpanRecordsErrorClass(t *testing.T) {
	tp, exp := newTracing(t)
	inst, err := otel.New(otel.Options{Connector: "src", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	_, span := inst.StartPublishSpan(context.Background(), "/default/t")
	inst.EndSpan(span, fmt.Errorf("publish: %w", context.DeadlineExceeded))

	s := spansNamed(exp, "send /default/t")
	if len(s) != 1 {
		t.Fatalf("%d spans, want 1", len(s))
	}
	if s[0].Status.Code.String() != "Error" {
		t.Errorf("status = %v, want Error", s[0].Status)
	}
	if v, _ := attrValue(s[0].Attributes, semconv.ErrorTypeKey); v.AsString() != string(otel.ClassRetryable) {
		t.Errorf("error.type = %q, want %q", v.AsString(), otel.ClassRetryable)
	}
}

func TestSpanHelpersWithoutTracerDoNothing(t *testing.T) {
	inst, err := otel.New(otel.Options{Connector: "mongo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := inst.StartBatchSpan(context.Background(), "/default/t", 10, func(int) map[string]string {
		t.Fatal("attrsOf called without a tracer provider")
		return nil
	})
	if span.IsRecording() || trace.SpanFromContext(ctx).SpanContext().IsValid() {
		t.Error("batch span records without a tracer provider")
	}
	inst.EndSpan(span, nil)

	// A caller's own span is never handed back, so ending ours leaves it.
	tp, _ := newTracing(t)
	callerCtx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	_, publish := inst.StartPublishSpan(callerCtx, "/default/t")
	inst.EndSpan(publish, nil)
	if !caller.IsRecording() {
		t.Error("EndSpan of a no-op publish span ended the caller's span")
	}
	caller.End()
}

func TestInjectAndExtractTrace(t *testing.T) {
	tp, _ := newTracing(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "publish")
	defer span.End()
	ts, err := trace.ParseTraceState("vendor=abc")
	if err != nil {
		t.Fatal(err)
	}
	ctx = trace.ContextWithSpanContext(ctx, span.SpanContext().WithTraceState(ts))

	if got := otel.InjectTrace(context.Background(), nil); got != nil {
		t.Errorf("InjectTrace without a span = %v, want nil", got)
	}
	attrs := otel.InjectTrace(ctx, nil)
	if attrs[otel.AttrTraceParent] == "" || attrs[otel.AttrTraceState] != "vendor=abc" {
		t.Fatalf("InjectTrace into nil = %v, want traceparent and tracestate", attrs)
	}

	got := trace.SpanContextFromContext(otel.ExtractTrace(context.Background(), attrs))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
		t.Errorf("ExtractTrace = %v, want the remote context of %v", got, span.SpanContext())
	}
	if got.TraceState().Get("vendor") != "abc" {
		t.Errorf("trace state = %q, want vendor=abc", got.TraceState().String())
	}
	if sc := otel.SpanContextOf(map[string]string{otel.AttrTraceParent: "garbage"}); sc.IsValid() {
		t.Errorf("SpanContextOf(garbage) = %v, want invalid", sc)
	}
	if sc := otel.SpanContextOf(nil); sc.IsValid() {
		t.Error("SpanContextOf(nil) is valid")
	}
}
