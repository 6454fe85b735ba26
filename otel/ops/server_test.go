package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/otel/ops"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// switchCheck is a check whose result a test sets.
type switchCheck struct {
	mu  sync.Mutex
	err error
}

func (c *switchCheck) set(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *switchCheck) check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// get returns the status and body of a GET of url.
func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestServerHealthFollowsChecks(t *testing.T) {
	live, ready := &switchCheck{}, &switchCheck{}
	live.set(errors.New("write stage stuck for 5m0s"))
	ready.set(errors.New("mongodb unreachable"))

	srv := ops.NewServer("127.0.0.1:0", nil, live.check, ready.check)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	base := "http://" + srv.Addr()

	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", http.StatusServiceUnavailable, "not live: write stage stuck for 5m0s\n"},
		{"/readyz", http.StatusServiceUnavailable, "not ready: mongodb unreachable\n"},
	}
	for _, tt := range tests {
		if status, body := get(t, client, base+tt.path); status != tt.status || body != tt.body {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, status, body, tt.status, tt.body)
		}
	}

	live.set(nil)
	if status, body := get(t, client, base+"/healthz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz once live = %d %q, want 200 ok", status, body)
	}
	if status, _ := get(t, client, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while not ready = %d, want 503", status)
	}
	ready.set(nil)
	if status, body := get(t, client, base+"/readyz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /readyz once ready = %d %q, want 200 ok", status, body)
	}
	if status, _ := get(t, client, base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics without a handler = %d, want 404", status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Shutdown")
	}
}

func TestServerChecksGetDeadline(t *testing.T) {
	var deadline bool
	srv := ops.NewServer("", nil, func(ctx context.Context) error {
		_, deadline = ctx.Deadline()
		return nil
	}, nil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d", rec.Code)
	}
	if !deadline {
		t.Error("the liveness check got a context without a deadline")
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /readyz with a nil check = %d, want 200", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", rec.Code)
	}
}

func TestServerStartFailsOnPortInUse(t *testing.T) {
	first := ops.NewServer("127.0.0.1:0", nil, nil, nil)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Shutdown(context.Background()) }()

	second := ops.NewServer(first.Addr(), nil, nil, nil)
	err := second.Start()
	if err == nil {
		_ = second.Shutdown(context.Background())
		t.Fatal("Start on a port in use = nil, want an error")
	}
	if !strings.Contains(err.Error(), first.Addr()) {
		t.Errorf("error %q does not name the address", err)
	}
	if err := first.Start(); err == nil {
		t.Error("second Start of a running server = nil, want an error")
	}
}

func TestServerRunStartsAndStopsWithContext(t *testing.T) {
	srv := ops.NewServer("127.0.0.1:0", nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Run(ctx, time.Second); err != nil {
		t.Errorf("Run with a done context = %v, want a clean start and stop", err)
	}
	if srv.Addr() == "" {
		t.Error("Run did not start the server")
	}
}

func TestServerRunServesUntilContextEnds(t *testing.T) {
	srv := ops.NewServer("127.0.0.1:0", nil, nil, nil)
	if err := srv.Start(); err != nil { // Run goes on from here
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, 5*time.Second) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if status, _ := get(t, client, "http://"+srv.Addr()+"/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		port, want string
		ok         bool
	}{
		{"", ":9090", true},
		{"8080", ":8080", true},
		{" 9100 ", ":9100", true},
		{"0", "", false},
		{"65536", "", false},
		{"http", "", false},
		{":8080", "", false},
	}
	for _, tt := range tests {
		got, err := ops.ListenAddr(tt.port)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q, ok %v", tt.port, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), strings.TrimSpace(tt.port)) {
			t.Errorf("ListenAddr(%q) error %q does not name the value", tt.port, err)
		}
	}
}
