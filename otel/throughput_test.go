package otel_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// lineWriter hands every write, one JSON log line, to a channel.
type lineWriter chan []byte

func (w lineWriter) Write(p []byte) (int, error) {
	w <- append([]byte(nil), p...)
	return len(p), nil
}

// throughputLine is the part of a throughput log line the tests read.
type throughputLine struct {
	Msg          string  `json:"msg"`
	Written      int64   `json:"written"`
	Failed       int64   `json:"failed"`
	Rate         float64 `json:"rate"`
	TotalWritten int64   `json:"total_written"`
	TotalFailed  int64   `json:"total_failed"`
}

func nextLine(t *testing.T, lines lineWriter) throughputLine {
	t.Helper()
	select {
	case b := <-lines:
		var l throughputLine
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("log line %s: %v", b, err)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no log line")
	}
	return throughputLine{}
}

// startThroughput runs a throughput logger every 10s of a fake clock and
// returns it, its lines and a function that stops it and returns Run's
// result.
func startThroughput(t *testing.T) (*otel.ThroughputLogger, *clock.Fake, lineWriter, func() error) {
	t.Helper()
	lines := make(lineWriter, 16)
	clk := clock.NewFake(time.Time{})
	tl, err := otel.NewThroughputLogger(slog.New(slog.NewJSONHandler(lines, nil)), 10*time.Second, clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return tl, clk, lines, stop
}

func TestThroughputLoggerLogsOneLinePerInterval(t *testing.T) {
	tl, clk, lines, stop := startThroughput(t)

	tl.Add(100, 3)
	clk.Advance(10 * time.Second)
	got := nextLine(t, lines)
	want := throughputLine{Msg: "throughput", Written: 100, Failed: 3, Rate: 10, TotalWritten: 100, TotalFailed: 3}
	if got != want {
		t.Errorf("first line = %+v, want %+v", got, want)
	}

	tl.Add(50, 0)
	tl.Add(5, 0)
	clk.Advance(10 * time.Second)
	got = nextLine(t, lines)
	want = throughputLine{Msg: "throughput", Written: 55, Failed: 0, Rate: 5.5, TotalWritten: 155, TotalFailed: 3}
	if got != want {
		t.Errorf("second line = %+v, want %+v", got, want)
	}

	clk.Advance(10 * time.Second)
	got = nextLine(t, lines)
	want = throughputLine{Msg: "throughput", Written: 0, Failed: 0, Rate: 0, TotalWritten: 155, TotalFailed: 3}
	if got != want {
		t.Errorf("idle line = %+v, want %+v: an idle connector still logs", got, want)
	}

	tl.Add(7, 1)
	clk.Advance(2 * time.Second)
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	got = nextLine(t, lines)
	want = throughputLine{Msg: "throughput", Written: 7, Failed: 1, Rate: 3.5, TotalWritten: 162, TotalFailed: 4}
	if got != want {
		t.Errorf("last line = %+v, want %+v: the part interval at stop", got, want)
	}
	select {
	case extra := <-lines:
		t.Errorf("unexpected line %s", extra)
	default:
	}
}

func TestThroughputLoggerFedByStageObserver(t *testing.T) {
	tl, clk, lines, _ := startThroughput(t)

	inst, err := otel.New(otel.Options{Connector: "mongo", Throughput: tl})
	if err != nil {
		t.Fatal(err)
	}
	obs := inst.StageObserver()
	if obs.Wrote == nil {
		t.Fatal("StageObserver with a throughput logger has no Wrote")
	}
	obs.Wrote("write", 10, 0, time.Millisecond, nil)
	obs.Wrote("write", 4, 0, time.Millisecond, &stage.BatchError{Failed: []stage.Failure{{Index: 2, Err: errors.New("x")}}})
	obs.Wrote("write", 6, 0, time.Millisecond, errors.New("timeout"))

	clk.Advance(10 * time.Second)
	got := nextLine(t, lines)
	if got.Written != 13 || got.Failed != 7 {
		t.Errorf("line = %+v, want 13 written (10 + 3 of a partial batch) and 7 failed", got)
	}
}

func TestThroughputLoggerRejectsBadInterval(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if _, err := otel.NewThroughputLogger(nil, d, nil); err == nil {
			t.Errorf("NewThroughputLogger(%v) = nil error, want one", d)
		}
	}
	var tl *otel.ThroughputLogger
	tl.Add(1, 1) // a nil logger is allowed and ignores counts
	if err := tl.Run(context.Background()); err == nil {
		t.Error("Run of a nil logger = nil, want an error")
	}
}
