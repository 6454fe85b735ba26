package sink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

func TestReadyReportsWhatIsMissing(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	conn := newTestConn()
	cfg := e.config(testTopic, testSub)
	ctx := context.Background()

	rt, err := New(conn, cfg, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Ready(ctx); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Ready before Run = %v, want not running", err)
	}

	r := start(t, conn, cfg, Options{})
	r.waitReady(t)
	conn.mu.Lock()
	conn.health = errors.New("ping timed out")
	conn.mu.Unlock()
	if err := r.rt.Ready(ctx); err == nil || !strings.Contains(err.Error(), "ping timed out") {
		t.Errorf("Ready with a failing connector = %v, want the connector's error", err)
	}
}

func TestLiveFailsWhenRouteStalls(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	clk := newFakeClock()
	conn := newTestConn()
	release := make(chan struct{})
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			<-release
		}
		return nil
	}
	cfg := e.config(testTopic, testSub)
	cfg.StallTimeout = time.Minute
	r := start(t, conn, cfg, Options{Clock: clk})
	r.waitReady(t)
	e.publish(testTopic, "m", 1)
	conn.waitUntil(t, "the write starts", func(c *testConn) bool { return c.calls == 1 })

	ctx := context.Background()
	if err := r.rt.Live(ctx); err != nil {
		t.Fatalf("Live while the write is young = %v, want nil", err)
	}
	clk.Advance(61 * time.Second)
	err := r.rt.Live(ctx)
	if err == nil || !strings.Contains(err.Error(), "without settling any") {
		t.Errorf("Live after a minute without progress = %v, want the stalled route", err)
	}

	close(release)
	conn.waitUntil(t, "the write returns", func(c *testConn) bool { return len(c.ok) == 1 })
	r.waitInFlight(t, 0)
	if err := r.rt.Live(ctx); err != nil {
		t.Errorf("Live once the record is settled = %v, want nil", err)
	}
}

func TestLiveFailsAfterSupervisorGaveUp(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	conn := newTestConn()
	conn.openErr = func(int) error { return Fatal(errors.New("bad credentials")) }
	r := start(t, conn, e.config(testTopic, testSub), Options{
		Supervisor: []supervisor.Option{supervisor.WithIntensity(0, time.Minute)},
	})
	err := r.wait(t)
	if !errors.Is(err, ErrFatal) {
		t.Fatalf("Run = %v, want the fatal error of Open", err)
	}
	if err := r.rt.Live(context.Background()); err == nil || !strings.Contains(err.Error(), "bad credentials") {
		t.Errorf("Live after the supervisor gave up = %v, want its failure", err)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.closes != 0 {
		t.Errorf("Close called %d times after a failed Open, want 0", conn.closes)
	}
}
