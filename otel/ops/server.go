package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPort is the port of ListenAddr when METRICS_PORT is unset.
const DefaultPort = 9090

// DefaultCheckTimeout bounds each call of a liveness or readiness check.
const DefaultCheckTimeout = 5 * time.Second

// Check reports whether a connector is live or ready: nil when it is, or
// an error whose text says why not. The text is served to whoever can
// reach the port, so it must not hold a secret. A check is called once per
// request, with a context that ends after DefaultCheckTimeout or when the
// client goes away.
type Check func(ctx context.Context) error

// ListenAddr returns the address for NewServer from the value of the
// METRICS_PORT environment variable: ":port", on every interface, so that
// the endpoints can be scraped from outside a container. An empty port
// means DefaultPort. A value that is not a port number from 1 to 65535 is
// an error naming it.
func ListenAddr(port string) (string, error) {
	port = strings.TrimSpace(port)
	if port == "" {
		return ":" + strconv.Itoa(DefaultPort), nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid metrics port %q: want a number from 1 to 65535", port)
	}
	return ":" + strconv.Itoa(n), nil
}

// Server is the operations endpoint of a connector binary:
//
//   - GET /metrics serves the metrics handler, such as the one of
//     NewPrometheus;
//   - GET /healthz answers 200 while the liveness check returns nil, and
//     503 with the check's error otherwise: the process should be
//     restarted;
//   - GET /readyz does the same with the readiness check: the connector
//     cannot work now (its broker or target is unreachable) but may
//     recover by itself.
//
// A nil check always passes; a nil metrics handler answers 404. Make one
// with NewServer, then Start and Shutdown it, or Run it under a
// supervisor. A Server runs once.
type Server struct {
	srv *http.Server

	mu       sync.Mutex
	ln       net.Listener
	done     chan struct{} // closed when Serve has returned
	serveErr error
}

// NewServer returns a server that will listen on addr (host:port; ":0"
// picks a free port, see Addr) once started.
func NewServer(addr string, metrics http.Handler, live, ready Check) *Server {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.Handle("GET /healthz", checkHandler("not live", live))
	mux.Handle("GET /readyz", checkHandler("not ready", ready))
	return &Server{srv: &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}}
}

// Handler returns the server's handler, to test the endpoints without a
// listener or to mount them in another server.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// checkHandler answers 200 "ok" while check passes and 503 with the
// failure otherwise.
func checkHandler(failure string, check Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if check != nil {
			ctx, cancel := context.WithTimeout(r.Context(), DefaultCheckTimeout)
			err := check(ctx)
			cancel()
			if err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "%s: %v\n", failure, err)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
}

// Start listens on the server's address and serves in a goroutine of its
// own until Shutdown. It returns the error of the listen, such as a port
// in use, at once. Start may be called once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("ops server already started")
	}
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("ops server: listen on %s: %w", s.srv.Addr, err)
	}
	s.ln = ln
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.mu.Lock()
		s.serveErr = err
		s.mu.Unlock()
	}()
	return nil
}

// Addr returns the address the server listens on, with the port it got
// for ":0", or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server: it closes the listener, waits for the
// requests in progress to finish within ctx, and returns once the serving
// goroutine has returned. It returns ctx's error if requests were still
// running when ctx ended (their connections are then closed), or the
// error that stopped serving. Shutdown before Start does nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}

	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-done

	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(err, s.serveErr)
}

// Run starts the server unless Start was called before, serves until ctx
// is done, and shuts the server down within shutdownTimeout. Under a
// supervisor it is a child through
// supervisor.ChildFunc(func(ctx) error { return srv.Run(ctx, 5*time.Second) });
// a binary that wants a port in use reported before anything else starts
// calls Start first. Run returns the error of Start, of serving if that
// stopped by itself, or of Shutdown; nil after a clean stop.
func (s *Server) Run(ctx context.Context, shutdownTimeout time.Duration) error {
	s.mu.Lock()
	started := s.ln != nil
	s.mu.Unlock()
	if !started {
		if err := s.Start(); err != nil {
			return err
		}
	}

	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-done:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}
