package otel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// ThroughputLogger logs one line at a steady interval with the messages
// written and failed since the previous line and the write rate, so that
// an operator reading the logs of a connector that runs for months sees
// it is alive and how fast it goes, without one line per message.
//
// Writers report with Add, from any goroutine: two atomic additions, once
// per batch. Run does the logging, and is a supervisor.Child. The line is
// logged at info level with the message "throughput" and the attributes
// written, failed (since the previous line), rate (written per second over
// the time since the previous line), total_written and total_failed.
//
// A nil *ThroughputLogger is valid: Add does nothing.
type ThroughputLogger struct {
	log      *slog.Logger
	interval time.Duration
	clk      clock.Clock

	written atomic.Int64
	failed  atomic.Int64
}

// NewThroughputLogger returns a logger of throughput that writes to log
// (slog.Default() when nil) every interval, timed by clk (the real clock
// when nil; tests pass a *clock.Fake). It fails when interval is not
// positive.
func NewThroughputLogger(log *slog.Logger, interval time.Duration, clk clock.Clock) (*ThroughputLogger, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("otel: throughput interval %v is not positive", interval)
	}
	if log == nil {
		log = slog.Default()
	}
	return &ThroughputLogger{log: log, interval: interval, clk: clock.OrReal(clk)}, nil
}

// Add counts written messages and failed ones since the last line. Failed
// counts the messages of failed write attempts, so a message written on
// its third attempt adds two failures and one write.
func (t *ThroughputLogger) Add(written, failed int) {
	if t == nil {
		return
	}
	if written != 0 {
		t.written.Add(int64(written))
	}
	if failed != 0 {
		t.failed.Add(int64(failed))
	}
}

// Run logs a line every interval until ctx is done, then logs a last line
// for the part of an interval that had passed, so that the totals account
// for every message, and returns nil. Run must not be called twice at
// once.
func (t *ThroughputLogger) Run(ctx context.Context) error {
	if t == nil {
		return errors.New("otel: nil throughput logger")
	}
	ticker := t.clk.NewTicker(t.interval)
	defer ticker.Stop()

	var totalWritten, totalFailed int64
	last := t.clk.Now()
	logLine := func(now time.Time) {
		written, failed := t.written.Swap(0), t.failed.Swap(0)
		totalWritten += written
		totalFailed += failed
		rate := 0.0
		if elapsed := now.Sub(last).Seconds(); elapsed > 0 {
			rate = math.Round(float64(written)/elapsed*10) / 10
		}
		last = now
		// The last line is logged after ctx is done, so it must not carry it.
		t.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "throughput",
			slog.Int64("written", written),
			slog.Int64("failed", failed),
			slog.Float64("rate", rate),
			slog.Int64("total_written", totalWritten),
			slog.Int64("total_failed", totalFailed))
	}

	for {
		select {
		case <-ticker.C():
			logLine(t.clk.Now())
		case <-ctx.Done():
			logLine(t.clk.Now())
			return nil
		}
	}
}
