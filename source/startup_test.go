package source_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
	"github.com/danube-messaging/danube-connect-go/source"
)

// unavailableStart starts a broker that rejects every CreateProducer with
// UNAVAILABLE, as a broker that is down would, and a Run on a fake clock
// that tries twice, a second each, 100 ms apart. It returns once the
// first attempt waits for its timeout.
func unavailableStart(t *testing.T) (*danubetest.Broker, *source.Runtime, *logState, *clock.Fake, *syncbuf.Buffer, context.CancelFunc, <-chan error) {
	t.Helper()
	b := danubetest.Start(t)
	b.FailNext("CreateProducer", 1<<30, codes.Unavailable)
	log := newLog(makeRecords(3), 3)
	log.tail = true
	clk := clock.NewFake(time.Time{})
	logs := new(syncbuf.Buffer)
	opts := testOptions(clk)
	opts.SendTimeout = time.Second
	opts.MaxRetries = 1
	opts.RetryBackoff = 100 * time.Millisecond
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := runAsync(ctx, rt)
	waitForTimer(t, clk, clk.Now().Add(time.Second))
	return b, rt, log, clk, logs, cancel, done
}

// checkWaiting checks that the Run has not opened the connector and is
// not ready.
func checkWaiting(t *testing.T, rt *source.Runtime, log *logState) {
	t.Helper()
	if err := rt.Health(context.Background()); !errors.Is(err, source.ErrNotRunning) {
		t.Errorf("Health = %v while waiting for the broker, want ErrNotRunning", err)
	}
	if n := len(log.opens); n != 0 {
		t.Errorf("Open called %d times while waiting for the broker, want none", n)
	}
}

// TestStartWaitsForBrokerThenFails: while the broker is unavailable, Run
// tries to create the default topic's producer MaxRetries+1 times,
// SendTimeout each, logs a warning naming the topic and the error after
// the first failure, stays not ready, and then fails without reading
// anything.
func TestStartWaitsForBrokerThenFails(t *testing.T) {
	_, rt, log, clk, logs, _, done := unavailableStart(t)
	start := clk.Now()
	checkWaiting(t, rt, log)
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a warning before the first attempt failed:\n%s", logs.String())
	}

	clk.Advance(time.Second) // the first attempt times out
	waitForTimer(t, clk, start.Add(1100*time.Millisecond))
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "topic="+testTopic) || !strings.Contains(out, "no response within SendTimeout 1s") {
		t.Errorf("want a warning naming the topic and the broker's error after the first attempt; log:\n%s", out)
	}
	checkWaiting(t, rt, log)

	clk.Advance(100 * time.Millisecond) // the backoff
	waitForTimer(t, clk, start.Add(2100*time.Millisecond))
	clk.Advance(time.Second) // the second and last attempt times out
	err := waitRun(t, done)
	if err == nil || !strings.Contains(err.Error(), testTopic) || !strings.Contains(err.Error(), "2 attempts") {
		t.Fatalf("Run = %v, want the failure to create the producer of %s after 2 attempts", err, testTopic)
	}
	if errors.Is(err, source.ErrFatal) {
		t.Errorf("Run = %v, want an error a supervisor restarts, not Fatal", err)
	}
	checkWaiting(t, rt, log)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want one:\n%s", n, logs.String())
	}
}

// TestStartGoesOnWhenBrokerComesBack: the broker becomes available while
// Run waits for it; the next attempt creates the producer, and the Run
// publishes the records.
func TestStartGoesOnWhenBrokerComesBack(t *testing.T) {
	b, rt, log, clk, logs, cancel, done := unavailableStart(t)
	start := clk.Now()
	clk.Advance(time.Second) // the first attempt times out
	waitForTimer(t, clk, start.Add(1100*time.Millisecond))
	checkWaiting(t, rt, log)

	b.FailNext("CreateProducer", 0, codes.Unavailable)
	clk.Advance(100 * time.Millisecond) // the backoff
	eventually(t, "the records published", func() bool { return rt.Stats().Published == 3 })
	if err := rt.Health(context.Background()); err != nil {
		t.Errorf("Health = %v once running, want nil", err)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	checkAllOnce(t, b, 3, testTopic)
	if !strings.Contains(logs.String(), "attempts=2") {
		t.Errorf("want the recovery logged with its attempts; log:\n%s", logs.String())
	}
}
