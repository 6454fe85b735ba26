package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSignals replaces signal.Notify: the test sends signals itself.
type fakeSignals struct {
	registered chan chan<- os.Signal
	stopped    chan struct{}
}

func newFakeSignals() *fakeSignals {
	return &fakeSignals{registered: make(chan chan<- os.Signal, 1), stopped: make(chan struct{}, 1)}
}

func (f *fakeSignals) options(o Options) Options {
	o.notify = func(c chan<- os.Signal, _ ...os.Signal) { f.registered <- c }
	o.stop = func(chan<- os.Signal) { f.stopped <- struct{}{} }
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

// channel waits for RunWithSignals to register for signals.
func (f *fakeSignals) channel(t *testing.T) chan<- os.Signal {
	t.Helper()
	select {
	case c := <-f.registered:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("RunWithSignals did not register for signals")
		return nil
	}
}

// testService runs until its context is done, then drains until released
// or forced.
type testService struct {
	started  chan struct{}
	stopping chan error // the cause of the context's end
	release  chan struct{}
	forced   chan struct{}
	result   error
	ignore   bool // ignore Force
}

func newTestService() *testService {
	return &testService{
		started:  make(chan struct{}),
		stopping: make(chan error, 1),
		release:  make(chan struct{}),
		forced:   make(chan struct{}, 1),
	}
}

func (s *testService) Run(ctx context.Context) error {
	close(s.started)
	<-ctx.Done()
	s.stopping <- context.Cause(ctx)
	select {
	case <-s.release:
	case <-s.forced:
	}
	return s.result
}

func (s *testService) Force() {
	if !s.ignore {
		s.forced <- struct{}{}
	}
}

// run starts RunWithSignals and returns its result channel.
func run(ctx context.Context, svc Service, o Options) <-chan error {
	res := make(chan error, 1)
	go func() { res <- RunWithSignals(ctx, svc, o) }()
	return res
}

func wait[T any](t *testing.T, ch <-chan T, event string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", event)
		var zero T
		return zero
	}
}

func TestRunWithSignalsReturnsServiceResult(t *testing.T) {
	fs := newFakeSignals()
	boom := errors.New("boom")
	res := run(context.Background(), ServiceFunc(func(context.Context) error { return boom }), fs.options(Options{}))
	fs.channel(t)
	if err := wait(t, res, "the result"); !errors.Is(err, boom) {
		t.Errorf("RunWithSignals = %v, want %v", err, boom)
	}
	wait(t, fs.stopped, "signal.Stop")
}

func TestFirstSignalDrainsAndReturnsNil(t *testing.T) {
	fs := newFakeSignals()
	svc := newTestService()
	res := run(context.Background(), svc, fs.options(Options{}))
	sigs := fs.channel(t)
	wait(t, svc.started, "Run to start")

	sigs <- syscall.SIGTERM
	cause := wait(t, svc.stopping, "the service's context to end")
	var serr *SignalError
	if !errors.As(cause, &serr) || serr.Signal != syscall.SIGTERM {
		t.Errorf("context cause = %v, want a *SignalError for SIGTERM", cause)
	}
	svc.result = context.Canceled // a clean drain reported the usual way
	close(svc.release)

	err := wait(t, res, "the result")
	if err != nil {
		t.Errorf("RunWithSignals = %v, want nil after a clean drain", err)
	}
	if code := ExitCode(err); code != 0 {
		t.Errorf("ExitCode = %d, want 0", code)
	}
}

func TestParentContextEndStartsDrain(t *testing.T) {
	fs := newFakeSignals()
	svc := newTestService()
	ctx, cancel := context.WithCancelCause(context.Background())
	res := run(ctx, svc, fs.options(Options{}))
	fs.channel(t)
	wait(t, svc.started, "Run to start")

	stop := errors.New("parent stopping")
	cancel(stop)
	if cause := wait(t, svc.stopping, "the service's context to end"); !errors.Is(cause, stop) {
		t.Errorf("context cause = %v, want %v", cause, stop)
	}
	close(svc.release)
	if err := wait(t, res, "the result"); err != nil {
		t.Errorf("RunWithSignals = %v, want nil", err)
	}
}

func TestSecondSignalForcesStop(t *testing.T) {
	fs := newFakeSignals()
	svc := newTestService()
	svc.result = errors.New("nacked 3 messages")
	res := run(context.Background(), svc, fs.options(Options{}))
	sigs := fs.channel(t)
	wait(t, svc.started, "Run to start")

	sigs <- syscall.SIGINT
	wait(t, svc.stopping, "the service's context to end")
	sigs <- syscall.SIGTERM

	err := wait(t, res, "the result")
	var ferr *ForcedError
	if !errors.As(err, &ferr) || !errors.Is(err, ErrForced) {
		t.Fatalf("RunWithSignals = %v, want a *ForcedError", err)
	}
	if ferr.Signal != syscall.SIGTERM {
		t.Errorf("ForcedError.Signal = %v, want SIGTERM", ferr.Signal)
	}
	if !errors.Is(err, svc.result) {
		t.Errorf("RunWithSignals = %v, want it to wrap the service's error", err)
	}
	if code := ExitCode(err); code != 128+int(syscall.SIGTERM) {
		t.Errorf("ExitCode = %d, want %d", code, 128+int(syscall.SIGTERM))
	}
}

func TestDrainDeadlineForcesStop(t *testing.T) {
	fs := newFakeSignals()
	clk := clock.NewFake(time.Time{})
	svc := newTestService()
	res := run(context.Background(), svc, fs.options(Options{DrainTimeout: 20 * time.Second, Clock: clk}))
	sigs := fs.channel(t)
	wait(t, svc.started, "Run to start")

	sigs <- syscall.SIGTERM
	wait(t, svc.stopping, "the service's context to end")
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(19 * time.Second)
	select {
	case err := <-res:
		t.Fatalf("RunWithSignals returned %v before the drain deadline", err)
	default:
	}
	clk.Advance(time.Second)

	err := wait(t, res, "the result")
	if !errors.Is(err, ErrDrainTimeout) || errors.Is(err, ErrStopTimeout) {
		t.Errorf("RunWithSignals = %v, want ErrDrainTimeout without ErrStopTimeout", err)
	}
	if code := ExitCode(err); code != ExitFailure {
		t.Errorf("ExitCode = %d, want %d", code, ExitFailure)
	}
}

// TestDrainMarginLoggedApart stops a service with DrainTimeout 30s and
// DrainMargin 10s. The stop lines must log drain_timeout as 30s and
// force_stop_after as 40s, and the force must come at 40s, not 30s.
func TestDrainMarginLoggedApart(t *testing.T) {
	fs := newFakeSignals()
	clk := clock.NewFake(time.Time{})
	svc := newTestService()
	var out syncBuffer
	o := fs.options(Options{DrainTimeout: 30 * time.Second, DrainMargin: 10 * time.Second, Clock: clk})
	o.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{ReplaceAttr: durationText}))
	res := run(context.Background(), svc, o)
	sigs := fs.channel(t)
	wait(t, svc.started, "Run to start")

	sigs <- syscall.SIGTERM
	wait(t, svc.stopping, "the service's context to end")
	if err := clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	select {
	case err := <-res:
		t.Fatalf("RunWithSignals returned %v at DrainTimeout, before the margin passed", err)
	default:
	}
	clk.Advance(10 * time.Second)
	err := wait(t, res, "the result")
	if !errors.Is(err, ErrDrainTimeout) {
		t.Errorf("RunWithSignals = %v, want ErrDrainTimeout", err)
	}
	if !strings.Contains(err.Error(), "after 40s") {
		t.Errorf("RunWithSignals = %v, want it to name the 40s after which it forced the stop", err)
	}

	lines := out.lines(t)
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want the stop line and the deadline line:\n%s", len(lines), out.String())
	}
	for _, line := range lines {
		if got := line["drain_timeout"]; got != "30s" {
			t.Errorf("%q: drain_timeout = %v, want 30s", line["msg"], got)
		}
		if got := line["force_stop_after"]; got != "40s" {
			t.Errorf("%q: force_stop_after = %v, want 40s", line["msg"], got)
		}
	}
}

// durationText writes a duration attribute as text, such as 30s, in
// place of the JSON handler's nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// syncBuffer is a bytes.Buffer that the logger of RunWithSignals's
// goroutine and the test can use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines written so far, decoded.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, text := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if text == "" {
			continue
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(text), &line); err != nil {
			t.Fatalf("log line %q: %v", text, err)
		}
		out = append(out, line)
	}
	return out
}

func TestIgnoredForceLeavesService(t *testing.T) {
	fs := newFakeSignals()
	clk := clock.NewFake(time.Time{})
	svc := newTestService()
	svc.ignore = true
	res := run(context.Background(), svc, fs.options(Options{Clock: clk, ForceTimeout: time.Second}))
	sigs := fs.channel(t)
	wait(t, svc.started, "Run to start")

	sigs <- syscall.SIGTERM
	wait(t, svc.stopping, "the service's context to end")
	sigs <- syscall.SIGTERM
	// Two timers: the drain deadline and the force timeout.
	if err := clk.BlockUntil(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)

	err := wait(t, res, "the result")
	if !errors.Is(err, ErrForced) || !errors.Is(err, ErrStopTimeout) {
		t.Errorf("RunWithSignals = %v, want ErrForced and ErrStopTimeout", err)
	}
	close(svc.release) // let the abandoned Run end before goleak looks
}

func TestExitCode(t *testing.T) {
	cfgErr := &config.Error{Problems: []config.Problem{{Key: "BATCH_SIZE", Message: "must be a positive integer"}}}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"failure", errors.New("boom"), ExitFailure},
		{"invalid configuration", fmt.Errorf("load: %w", cfgErr), ExitInvalidConfig},
		{"forced by SIGINT", &ForcedError{Signal: syscall.SIGINT}, 130},
		{"forced and stuck", fmt.Errorf("%w: %w", &ForcedError{Signal: syscall.SIGTERM}, ErrStopTimeout), 143},
		{"drain timeout", fmt.Errorf("%w after 30s", ErrDrainTimeout), ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestServeAnswersChecksUntilServiceReturns(t *testing.T) {
	fs := newFakeSignals()
	svc := newTestService()
	notReady := errors.New("broker not connected")
	addrs := make(chan string, 1)
	o := ServeOptions{
		Options: fs.options(Options{}),
		Addr:    "127.0.0.1:0",
		Ready:   func(context.Context) error { return notReady },
		Started: func(addr string) { addrs <- addr },
	}
	res := make(chan error, 1)
	go func() { res <- Serve(context.Background(), svc, o) }()
	sigs := fs.channel(t)
	addr := wait(t, addrs, "the endpoints to listen")
	wait(t, svc.started, "Run to start")

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, notReady.Error()) {
		t.Errorf("GET /readyz = %d %q, want 503 naming %q", code, body, notReady)
	}

	sigs <- syscall.SIGTERM
	wait(t, svc.stopping, "the service's context to end")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz during the drain = %d, want 200", code)
	}
	close(svc.release)
	if err := wait(t, res, "the result"); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the endpoints still answer after Serve returned")
	}
}

func TestServeFailsOnPortInUse(t *testing.T) {
	first := ops.NewServer("127.0.0.1:0", nil, nil, nil)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Shutdown(context.Background())

	fs := newFakeSignals()
	started := false
	svc := ServiceFunc(func(context.Context) error { started = true; return nil })
	err := Serve(context.Background(), svc, ServeOptions{Options: fs.options(Options{}), Addr: first.Addr()})
	if err == nil || started {
		t.Errorf("Serve = %v with the service started %v; want an error before the start", err, started)
	}
}
