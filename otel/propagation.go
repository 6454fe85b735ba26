package otel

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The attribute keys that carry the trace context of a message, as the W3C
// Trace Context recommendation names its HTTP headers.
const (
	AttrTraceParent = "traceparent"
	AttrTraceState  = "tracestate"
)

// traceContext is the propagator of message attributes. It is fixed to
// W3C Trace Context rather than taken from the global propagator, so that
// every connector reads what every other one writes whatever the
// application configured.
var traceContext = propagation.TraceContext{}

// InjectTrace writes the trace context of the span in ctx into attrs, the
// attributes of a message about to be published: traceparent, and
// tracestate when the span has one. It returns attrs, or a new map when
// attrs is nil and there is a span to write. Without a valid span in ctx
// it writes nothing and returns attrs as given, at the cost of a context
// lookup.
//
// attrs must belong to this one message: a map shared between messages
// would carry the last message's context for all of them, and writing it
// while another goroutine reads it is a data race.
func InjectTrace(ctx context.Context, attrs map[string]string) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return attrs
	}
	if attrs == nil {
		attrs = make(map[string]string, 2)
	}
	traceContext.Inject(ctx, propagation.MapCarrier(attrs))
	return attrs
}

// ExtractTrace returns ctx with the span context that a message's
// attributes carry, as a remote parent, or ctx itself when they carry
// none or an invalid one.
func ExtractTrace(ctx context.Context, attrs map[string]string) context.Context {
	if _, ok := attrs[AttrTraceParent]; !ok {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier(attrs))
}

// SpanContextOf returns the span context that a message's attributes
// carry, or an invalid one (IsValid false) when they carry none.
func SpanContextOf(attrs map[string]string) trace.SpanContext {
	if _, ok := attrs[AttrTraceParent]; !ok {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.MapCarrier(attrs)))
}
