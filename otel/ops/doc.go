// Package ops serves the operations endpoints of a connector binary:
// Prometheus metrics, liveness and readiness.
//
// It is the one place of the library that depends on the OpenTelemetry SDK
// and the Prometheus client. Code instrumented through package otel uses
// the OpenTelemetry API only and never pulls them in, because only a
// binary, or a test, imports ops.
//
//	mp, metrics, err := ops.NewPrometheus()
//	if err != nil { ... }
//	defer mp.Shutdown(context.Background())
//	inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "mongodb", ...})
//
//	addr, err := ops.ListenAddr(os.Getenv("METRICS_PORT")) // ":9090" when unset
//	srv := ops.NewServer(addr, metrics, live, ready)
//	if err := srv.Start(); err != nil { ... } // a port in use fails here
//	defer srv.Shutdown(shutdownCtx)
//
// The server answers GET /metrics, /healthz and /readyz; see Server.
package ops
