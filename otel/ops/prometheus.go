package ops

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// NewPrometheus returns a meter provider of the OpenTelemetry SDK whose
// metrics the returned handler serves in the Prometheus exposition format,
// for the /metrics path of a Server. Pass the provider to otel.New.
//
// Each call makes its own prometheus.Registry, so providers never share
// metrics and tests may run in parallel. The registry also holds the Go
// runtime and process collectors (go_* and process_* metrics). The
// metrics are read when the handler is scraped, not in the background, so
// the provider starts no goroutine; opts (a resource, views) are applied
// after the Prometheus reader. Shut the provider down when the program
// stops.
func NewPrometheus(opts ...sdkmetric.Option) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("register process collector: %w", err)
	}

	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, fmt.Errorf("create prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(append([]sdkmetric.Option{sdkmetric.WithReader(exporter)}, opts...)...)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return mp, handler, nil
}
