package source_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
)

func TestTraceparentAddedWhenTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	inst, err := otel.New(otel.Options{Connector: "test", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}

	b := danubetest.Start(t)
	shared := map[string]string{"origin": "test"}
	recs := makeRecords(10)
	for i := range recs {
		recs[i].Attributes = shared // one map for every record
	}
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.Instrumentation = inst
	rt := newRuntime(t, newClient(t, b), pollLog{newLog(recs, 10)}, opts)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}

	spans := make(map[string]bool)
	for _, s := range exp.GetSpans() {
		spans[s.SpanContext.TraceID().String()+"-"+s.SpanContext.SpanID().String()] = true
	}
	seen := make(map[string]bool)
	for _, m := range b.Messages(testTopic) {
		if m.Attributes["origin"] != "test" {
			t.Errorf("%s lost its attribute origin: %v", m.Payload, m.Attributes)
		}
		sc := otel.SpanContextOf(m.Attributes)
		if !sc.IsValid() {
			t.Errorf("%s has no valid traceparent: %v", m.Payload, m.Attributes)
			continue
		}
		key := sc.TraceID().String() + "-" + sc.SpanID().String()
		if !spans[key] {
			t.Errorf("%s carries span %s, which was not recorded", m.Payload, key)
		}
		if seen[key] {
			t.Errorf("%s shares span %s with another record", m.Payload, key)
		}
		seen[key] = true
	}
	if len(shared) != 1 {
		t.Errorf("the connector's attribute map was modified: %v", shared)
	}
}

func TestNoTraceparentWithoutTracer(t *testing.T) {
	for _, tc := range []struct {
		name string
		inst func(t *testing.T) *otel.Instrumentation
	}{
		{"no instrumentation", func(*testing.T) *otel.Instrumentation { return nil }},
		{"no tracer provider", func(t *testing.T) *otel.Instrumentation {
			inst, err := otel.New(otel.Options{Connector: "test"})
			if err != nil {
				t.Fatal(err)
			}
			return inst
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := danubetest.Start(t)
			opts := testOptions(clock.NewFake(time.Time{}))
			opts.Instrumentation = tc.inst(t)
			rt := newRuntime(t, newClient(t, b), pollLog{newLog(makeRecords(5), 5)}, opts)
			if err := rt.Run(context.Background()); err != nil {
				t.Fatalf("Run = %v", err)
			}
			for _, m := range b.Messages(testTopic) {
				if _, ok := m.Attributes[otel.AttrTraceParent]; ok {
					t.Errorf("%s carries a traceparent without a tracer: %v", m.Payload, m.Attributes)
				}
			}
			checkAllOnce(t, b, 5, testTopic)
		})
	}
}
