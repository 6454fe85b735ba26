package otel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/danube-messaging/danube-connect-go/otel"
)

// metricsRig is an Instrumentation whose metrics a test reads with a
// manual reader.
type metricsRig struct {
	inst   *otel.Instrumentation
	reader *sdkmetric.ManualReader
}

// newMetricsRig returns the instrumentation of connector "mongo" on topic
// /default/orders and subscription "sink", with opts' other fields kept.
func newMetricsRig(t *testing.T, opts otel.Options) *metricsRig {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	opts.MeterProvider = mp
	if opts.Connector == "" {
		opts.Connector = "mongo"
	}
	if opts.Topic == "" {
		opts.Topic = "/default/orders"
	}
	if opts.Subscription == "" {
		opts.Subscription = "sink"
	}
	inst, err := otel.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &metricsRig{inst: inst, reader: reader}
}

// collect reads every metric once.
func (r *metricsRig) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rm
}

// find returns the metric named name, or nil.
func find(rm metricdata.ResourceMetrics, name string) *metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

// matches reports whether set has every attribute of want.
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum returns the total of the int64 counter name over the data points
// that carry every attribute of want; 0 when there are none.
func sum(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	m := find(rm, name)
	if m == nil {
		return 0
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	var total int64
	for _, dp := range s.DataPoints {
		if matches(dp.Attributes, want) {
			total += dp.Value
		}
	}
	return total
}

// gauge returns the value of the int64 gauge name at the data point that
// carries every attribute of want, and whether there is one.
func gauge(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	m := find(rm, name)
	if m == nil {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 gauge", name, m.Data)
	}
	for _, dp := range g.DataPoints {
		if matches(dp.Attributes, want) {
			return dp.Value, true
		}
	}
	return 0, false
}

// histogram returns the count and sum of the histogram name over the data
// points that carry every attribute of want.
func histogram(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (count uint64, total float64) {
	t.Helper()
	m := find(rm, name)
	if m == nil {
		return 0, 0
	}
	switch h := m.Data.(type) {
	case metricdata.Histogram[int64]:
		for _, dp := range h.DataPoints {
			if matches(dp.Attributes, want) {
				count += dp.Count
				total += float64(dp.Sum)
			}
		}
	case metricdata.Histogram[float64]:
		for _, dp := range h.DataPoints {
			if matches(dp.Attributes, want) {
				count += dp.Count
				total += dp.Sum
			}
		}
	default:
		t.Fatalf("%s is a %T, want a histogram", name, m.Data)
	}
	return count, total
}
