package otel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Operation names of the spans, as messaging.operation.name.
const (
	OperationSend    = "send"
	OperationProcess = "process"
)

// StartPublishSpan starts the span of publishing one message to topic:
// kind producer, named "send <topic>" as the messaging semantic
// conventions name it. The publishing runtime then writes the span into
// the message with InjectTrace(ctx, msg.Attributes), publishes, and ends
// the span with EndSpan.
//
// Without a tracer provider it returns ctx and a span that does nothing,
// allocating nothing; the span is never the caller's own, so ending it is
// always safe.
func (in *Instrumentation) StartPublishSpan(ctx context.Context, topic string) (context.Context, trace.Span) {
	if in == nil || !in.tracing {
		return ctx, tracenoop.Span{}
	}
	return in.tracer.Start(ctx, OperationSend+" "+topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			systemAttr,
			AttrConnector.String(in.opts.Connector),
			semconv.MessagingDestinationName(topic),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName(OperationSend),
		))
}

// StartBatchSpan starts the span of writing one batch of n messages
// consumed from topic: kind consumer, named "process <topic>", with
// messaging.batch.message_count set to n. It links the span to the span
// context that each message carried, read from attrsOf(i) for i from 0 to
// n-1, the attributes of the i-th message. The links are not parents: a
// batch joins messages from many traces, and each of those traces shows
// the write through its link, which a trace viewer follows both ways. The
// write to the target system happens in the returned ctx, so its own spans
// (a database client's) become children of the batch span.
//
// At most Options.MaxLinks links are added, one per distinct span context,
// in batch order; messages without a trace context are skipped. Without a
// tracer provider it returns at once with a span that does nothing, and
// attrsOf is not called. With one, a linked message costs about a
// microsecond (BenchmarkStartBatchSpanSDK, on a shared 2-core machine),
// which is one reason the links are bounded.
func (in *Instrumentation) StartBatchSpan(ctx context.Context, topic string, n int, attrsOf func(i int) map[string]string) (context.Context, trace.Span) {
	if in == nil || !in.tracing {
		return ctx, tracenoop.Span{}
	}

	links := in.batchLinks(n, attrsOf)
	attrs := []attribute.KeyValue{
		systemAttr,
		AttrConnector.String(in.opts.Connector),
		semconv.MessagingDestinationName(topic),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName(OperationProcess),
		semconv.MessagingBatchMessageCount(n),
	}
	if in.opts.Subscription != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(in.opts.Subscription))
	}
	return in.tracer.Start(ctx, OperationProcess+" "+topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrs...),
		trace.WithLinks(links...))
}

// batchLinks returns the links to the distinct span contexts that the n
// messages carry, at most in.maxLinks of them.
func (in *Instrumentation) batchLinks(n int, attrsOf func(i int) map[string]string) []trace.Link {
	if attrsOf == nil || n <= 0 {
		return nil
	}
	type spanKey struct {
		trace trace.TraceID
		span  trace.SpanID
	}
	links := make([]trace.Link, 0, min(n, in.maxLinks))
	seen := make(map[spanKey]struct{}, min(n, in.maxLinks))
	for i := 0; i < n && len(links) < in.maxLinks; i++ {
		sc := SpanContextOf(attrsOf(i))
		if !sc.IsValid() {
			continue
		}
		key := spanKey{sc.TraceID(), sc.SpanID()}
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		links = append(links, trace.Link{SpanContext: sc})
	}
	return links
}

// EndSpan ends a span of StartPublishSpan or StartBatchSpan. A non-nil err
// sets the span's status to Error with err's text, and its error.type to
// the class of err, one of the three ErrorClass values. A nil receiver
// only ends the span.
func (in *Instrumentation) EndSpan(span trace.Span, err error) {
	if err != nil && in != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(string(in.classOf(err))))
	}
	span.End()
}
