package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/source"
)

// waitLimit bounds the wait for the service to return. It is real time,
// a guard against a hang rather than a timing under test.
const waitLimit = 20 * time.Second

// failingConn is a source connector whose Open returns openErr(n) on its
// n-th call, from 1.
type failingConn struct {
	openErr func(n int) error

	mu    sync.Mutex
	opens int
}

func (c *failingConn) Open(context.Context, source.Checkpoint) error {
	c.mu.Lock()
	c.opens++
	n := c.opens
	c.mu.Unlock()
	return c.openErr(n)
}

func (c *failingConn) openCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens
}

func (c *failingConn) Poll(context.Context) ([]source.Record, error)   { return nil, nil }
func (c *failingConn) Commit(context.Context, source.Checkpoint) error { return nil }
func (c *failingConn) Close(context.Context) error                     { return nil }
func (c *failingConn) Health(context.Context) error                    { return nil }

func TestServiceStopsOnFatalWithoutRestart(t *testing.T) {
	broker := danubetest.Start(t)
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// The first Open fails with an ordinary error, which is restarted
	// after a backoff delay; the second fails fatally.
	truncated := errors.New("input.jsonl shrank to 0 bytes after 120 were read")
	conn := &failingConn{openErr: func(n int) error {
		if n == 1 {
			return errors.New("input.jsonl: permission denied")
		}
		return source.Fatal(truncated)
	}}
	log := slog.New(slog.DiscardHandler)
	rt, err := source.New(client, conn, source.Options{Topic: "/default/lines", ConnectorName: "lines", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	throughput, err := otel.NewThroughputLogger(log, throughputInterval, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := otel.New(otel.Options{Connector: "lines", Topic: "/default/lines", Throughput: throughput})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Time{})
	svc, err := newService(rt, throughput, "lines", log, inst, clk)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(context.Background()) }()

	// The restart after the first failure waits on the supervisor's
	// clock, which only the test moves.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("no restart was scheduled after the first failure: %v", err)
	}
	if got := conn.openCount(); got != 1 {
		t.Fatalf("Open called %d times before the backoff passed, want 1", got)
	}
	clk.Advance(time.Minute)

	select {
	case err = <-done:
	case <-time.After(waitLimit):
		t.Fatalf("the service did not stop after the fatal error; Open called %d times", conn.openCount())
	}
	if !errors.Is(err, source.ErrFatal) || !errors.Is(err, truncated) {
		t.Errorf("Run = %v, want the fatal error", err)
	}
	if got := conn.openCount(); got != 2 {
		t.Errorf("Open called %d times, want 2: the fatal error must not be restarted", got)
	}
	if got := clk.Waiters(); got != 0 {
		t.Errorf("%d timers wait on the supervisor's clock after the stop, want none", got)
	}
}
