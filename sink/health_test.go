package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// scriptedOpen is a testConn whose Open runs open with Open's context and
// the call's number, from 1.
type scriptedOpen struct {
	*testConn
	open  func(ctx context.Context, call int) error
	calls atomic.Int32
}

func (c *scriptedOpen) Open(ctx context.Context) error {
	return c.open(ctx, int(c.calls.Add(1)))
}

// waitNotReady waits until Ready returns an error containing want, and
// returns that error.
func (r *running) waitNotReady(t *testing.T, want string) error {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := r.rt.Ready(context.Background())
		if err != nil && strings.Contains(err.Error(), want) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v, want an error containing %q", err, want)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

func TestReadyNamesLastOpenFailure(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	release := make(chan struct{})
	conn := &scriptedOpen{testConn: newTestConn(), open: func(ctx context.Context, call int) error {
		if call == 1 {
			return errors.New("dial 127.0.0.1:1: connection refused")
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}
	r := start(t, conn, e.config(testTopic, testSub), Options{})

	err := r.waitNotReady(t, "dial 127.0.0.1:1: connection refused")
	if !errors.Is(err, errNotOpen) {
		t.Errorf("Ready = %v, want it to wrap %v", err, errNotOpen)
	}
	if !strings.Contains(err.Error(), "last Open failed") {
		t.Errorf("Ready = %v, want it to say that the last Open failed", err)
	}

	close(release)
	r.waitReady(t)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestStopCutsSlowOpenShort(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)
	opening := make(chan struct{})
	var once sync.Once
	var cause error
	conn := &scriptedOpen{testConn: newTestConn(), open: func(ctx context.Context, call int) error {
		once.Do(func() { close(opening) })
		<-ctx.Done()
		cause = context.Cause(ctx)
		return fmt.Errorf("server selection: %w", cause)
	}}
	cfg := e.config(testTopic, testSub)
	// A drain that waited for Open would outlast the test's wait for Run.
	cfg.DrainTimeout = time.Hour
	r := start(t, conn, cfg, Options{})
	e.waitConsumer(testTopic, testSub)
	e.publish(testTopic, "m", 2)
	r.waitInFlight(t, 2)
	<-opening
	r.waitNotReady(t, "Open is in progress")

	if err := r.stop(t); err != nil {
		t.Errorf("Run = %v, want nil: the records held were nacked", err)
	}
	if !errors.Is(cause, context.Canceled) {
		t.Errorf("Open's context ended with %v, want context.Canceled from the stop", cause)
	}
	if got := conn.calls.Load(); got != 1 {
		t.Errorf("Open called %d times, want once", got)
	}
	if p := e.pending(testTopic, testSub); len(p) != 2 {
		t.Errorf("pending after the stop: %+v, want both records, nacked for redelivery", p)
	}
	if st := r.rt.Stats()[0]; st.Nacked != 2 || st.Acked != 0 {
		t.Errorf("stats %+v, want both records nacked", st.Stats)
	}
}
