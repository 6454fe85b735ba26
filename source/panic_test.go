package source_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// panicCommitPoller panics in Commit.
type panicCommitPoller struct{ pollLog }

func (panicCommitPoller) Commit(context.Context, source.Checkpoint) error {
	panic("checkpoint store exploded")
}

// TestCommitPanicStopsRun panics in every Commit. Commit runs on a
// goroutine of the runtime, where no caller could recover the panic: the
// runtime recovers it, and the Run stops with an error that holds the
// panic, after draining and closing the connector. The stack is logged
// once, although the final commit panics too.
func TestCommitPanicStopsRun(t *testing.T) {
	b := danubetest.Start(t)
	log := newLog(makeRecords(5), 5)
	log.tail = true
	var logs syncbuf.Buffer
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.PollInterval = time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rt := newRuntime(t, newClient(t, b), panicCommitPoller{pollLog{log}}, opts)

	err := rt.Run(context.Background())
	var perr *supervisor.PanicError
	if !errors.As(err, &perr) || perr.Value != "checkpoint store exploded" {
		t.Fatalf("Run = %v, want an error holding the Commit panic", err)
	}
	if errors.Is(err, source.ErrFatal) {
		t.Errorf("Run = %v, want an error that a supervisor may restart, not Fatal", err)
	}
	if strings.Contains(err.Error(), "goroutine ") {
		t.Errorf("Run's error holds the stack; want it in the log only:\n%v", err)
	}
	if n := strings.Count(logs.String(), "panicCommitPoller.Commit"); n != 1 {
		t.Errorf("the stack of Commit appears %d times in the log, want once:\n%s", n, logs.String())
	}
	if log.closes != 1 {
		t.Errorf("Close called %d times, want once", log.closes)
	}
	if st := rt.Stats(); st.Commits != 0 || st.CommitFailures < 2 {
		t.Errorf("Stats = %+v, want no commit and at least two failures: the commit loop's and the final one", st)
	}
	checkAllOnce(t, b, 5, testTopic)
}

// TestStreamPanicStopsRun panics in Stream after three records: the Run
// publishes them, stops with an error holding the panic, and logs the
// stack once.
func TestStreamPanicStopsRun(t *testing.T) {
	b := danubetest.Start(t)
	conn := streamFunc{logState: newLog(nil, 0), stream: func(_ context.Context, emit func(source.Record) error) error {
		for _, rec := range makeRecords(3) {
			if err := emit(rec); err != nil {
				return err
			}
		}
		panic("input exploded")
	}}
	var logs syncbuf.Buffer
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rt := newRuntime(t, newClient(t, b), conn, opts)

	err := rt.Run(context.Background())
	var perr *supervisor.PanicError
	if !errors.As(err, &perr) || perr.Value != "input exploded" {
		t.Fatalf("Run = %v, want an error holding the Stream panic", err)
	}
	if strings.Contains(err.Error(), "goroutine ") {
		t.Errorf("Run's error holds the stack; want it in the log only:\n%v", err)
	}
	if n := strings.Count(logs.String(), "TestStreamPanicStopsRun"); n != 1 {
		t.Errorf("the stack of Stream appears %d times in the log, want once:\n%s", n, logs.String())
	}
	checkAllOnce(t, b, 3, testTopic)
	if got := unpos(t, conn.lastCommit()); got != 3 {
		t.Errorf("last commit at %d, want 3", got)
	}
}

// TestStreamPanicDuringDrainReported covers a Stream that panics once its
// context is done: the drain has begun, so the panic cannot stop the run,
// but Run reports it.
func TestStreamPanicDuringDrainReported(t *testing.T) {
	b := danubetest.Start(t)
	conn := streamFunc{logState: newLog(nil, 0), stream: func(ctx context.Context, emit func(source.Record) error) error {
		for _, rec := range makeRecords(3) {
			if err := emit(rec); err != nil {
				return err
			}
		}
		<-ctx.Done()
		panic("input exploded while stopping")
	}}
	rt := newRuntime(t, newClient(t, b), conn, testOptions(clock.NewFake(time.Time{})))

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "three records stored", func() bool { return len(b.Messages(testTopic)) == 3 })
	cancel()
	err := waitRun(t, done)

	var perr *supervisor.PanicError
	if !errors.As(err, &perr) || perr.Value != "input exploded while stopping" {
		t.Fatalf("Run = %v, want an error holding the Stream panic", err)
	}
	checkAllOnce(t, b, 3, testTopic)
}
