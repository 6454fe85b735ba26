package lifecycle

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/otel/ops"
)

// opsShutdownTimeout bounds the wait for requests in progress on the
// operations endpoints once the service has stopped.
const opsShutdownTimeout = 5 * time.Second

// ServeOptions configures Serve: the operations endpoints, and the
// signal handling of RunWithSignals.
type ServeOptions struct {
	Options

	// MetricsPort is the port of /metrics, /healthz and /readyz,
	// ops.DefaultPort (9090) when 0.
	MetricsPort int
	// MetricsHost is the address they listen on; empty means every
	// interface.
	MetricsHost string
	// Addr, when set, is the host:port to listen on instead, such as
	// "127.0.0.1:0" in tests.
	Addr string
	// Metrics serves /metrics, such as the handler of ops.NewPrometheus.
	// With nil, /metrics replies 404.
	Metrics http.Handler
	// Live and Ready are the checks of /healthz and /readyz; nil passes.
	Live, Ready ops.Check
	// Started, if set, is called with the address the endpoints listen on
	// once they do, before the service starts.
	Started func(addr string)
}

// Serve runs a connector binary's service: it starts the operations
// endpoints, runs svc under RunWithSignals, and stops the endpoints once
// svc has returned, so that /healthz and /readyz reply during the drain.
// A port in use fails Serve before svc starts. It returns the result of
// RunWithSignals, or the error that kept the endpoints from starting.
func Serve(ctx context.Context, svc Service, o ServeOptions) error {
	addr, err := o.listenAddr()
	if err != nil {
		return err
	}
	srv := ops.NewServer(addr, o.Metrics, o.Live, o.Ready)
	if err := srv.Start(); err != nil {
		return err
	}
	if o.Started != nil {
		o.Started(srv.Addr())
	}

	err = RunWithSignals(ctx, svc, o.Options)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opsShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		o.withDefaults().Logger.Warn("operations endpoints did not stop cleanly", "error", serr)
	}
	return err
}

// listenAddr returns the address of the operations endpoints: Addr when
// set, else MetricsHost and MetricsPort.
func (o ServeOptions) listenAddr() (string, error) {
	if o.Addr != "" {
		return o.Addr, nil
	}
	port := ""
	if o.MetricsPort != 0 {
		port = strconv.Itoa(o.MetricsPort)
	}
	addr, err := ops.ListenAddr(port)
	if err != nil || o.MetricsHost == "" {
		return addr, err
	}
	return net.JoinHostPort(o.MetricsHost, strings.TrimPrefix(addr, ":")), nil
}
