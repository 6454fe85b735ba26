package source_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
)

// hangingClosePoller is a poll log whose Close blocks until its context
// ends, and returns the context's cause.
type hangingClosePoller struct {
	pollLog
	entered chan struct{} // receives each call of Close
}

func (p hangingClosePoller) Close(ctx context.Context) error {
	p.entered <- struct{}{}
	<-ctx.Done()
	return context.Cause(ctx)
}

// TestFinalStepsBoundedAfterCtxEnds ends the Run's context while a step
// after the pipeline hangs: the final commit or Close of the connector.
// That step began under CommitTimeout, since the context had not ended
// yet. Once the context ends, what is left of DrainTimeout bounds it too,
// so Run returns DrainTimeout after the context ended, long before
// CommitTimeout.
func TestFinalStepsBoundedAfterCtxEnds(t *testing.T) {
	newOpts := func(clk *clock.Fake) source.Options {
		opts := testOptions(clk)
		opts.CheckpointEvery = source.NoCheckpointEvery
		opts.CheckpointInterval = time.Hour
		opts.DrainTimeout = 2 * time.Second
		opts.CommitTimeout = time.Minute
		return opts
	}
	// endDuring cancels the Run's context while a final step hangs, and
	// checks that Run returns DrainTimeout later, with the step's deadline.
	endDuring := func(t *testing.T, clk *clock.Fake, opts source.Options, cancel context.CancelFunc, done <-chan error) error {
		t.Helper()
		start := clk.Now()
		cancel()
		waitForTimer(t, clk, start.Add(opts.DrainTimeout))
		clk.Advance(opts.DrainTimeout)
		err := waitRun(t, done)
		if elapsed := clk.Since(start); elapsed != opts.DrainTimeout {
			t.Errorf("Run returned %v after its context ended, want DrainTimeout %v (err %v)", elapsed, opts.DrainTimeout, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want the deadline of the hanging step", err)
		}
		return err
	}

	t.Run("final commit", func(t *testing.T) {
		b := danubetest.Start(t)
		log := newLog(makeRecords(3), 3) // io.EOF after three records
		conn := hangingCommitPoller{pollLog: pollLog{log}, entered: make(chan struct{}, 2)}
		clk := clock.NewFake(time.Time{})
		opts := newOpts(clk)
		rt := newRuntime(t, newClient(t, b), conn, opts)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := runAsync(ctx, rt)
		waitCommit(t, conn) // the final commit: the pipeline has returned
		endDuring(t, clk, opts, cancel, done)
		if log.closes != 1 {
			t.Errorf("Close called %d times, want once", log.closes)
		}
	})
	t.Run("close", func(t *testing.T) {
		b := danubetest.Start(t)
		log := newLog(makeRecords(3), 3)
		conn := hangingClosePoller{pollLog: pollLog{log}, entered: make(chan struct{}, 1)}
		clk := clock.NewFake(time.Time{})
		opts := newOpts(clk)
		rt := newRuntime(t, newClient(t, b), conn, opts)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := runAsync(ctx, rt)
		select {
		case <-conn.entered:
		case <-time.After(time.Minute):
			t.Fatal("Close not called within a minute")
		}
		err := endDuring(t, clk, opts, cancel, done)
		if got := unpos(t, log.lastCommit()); got != 3 {
			t.Errorf("last commit resumes after %d records, want 3 (err %v)", got, err)
		}
	})
	t.Run("forced before", func(t *testing.T) {
		clk := clock.NewFake(time.Time{})
		opts := newOpts(clk)
		opts.PollInterval = time.Hour
		opts.CheckpointEvery = 1
		rt, conn, cancel, done := startHangingCommit(t, clk, opts)
		defer cancel()
		rt.Force()
		waitCommit(t, conn) // the final commit, after the loop's was cut short
		err := endDuring(t, clk, opts, cancel, done)
		if !errors.Is(err, source.ErrForced) {
			t.Errorf("Run = %v, want ErrForced", err)
		}
	})
}
