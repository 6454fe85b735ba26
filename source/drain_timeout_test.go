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

// hangingCommitPoller is a poll log whose Commit blocks until its context
// ends, as a checkpoint store that hangs would, and returns the context's
// cause.
type hangingCommitPoller struct {
	pollLog
	entered chan struct{} // receives each call of Commit
}

func (p hangingCommitPoller) Commit(ctx context.Context, _ source.Checkpoint) error {
	p.entered <- struct{}{}
	<-ctx.Done()
	return context.Cause(ctx)
}

// startHangingCommit runs a Runtime on clk whose Commit hangs, and returns
// once the commit loop is in Commit.
func startHangingCommit(t *testing.T, clk *clock.Fake, opts source.Options) (*source.Runtime, hangingCommitPoller, context.CancelFunc, <-chan error) {
	t.Helper()
	b := danubetest.Start(t)
	log := newLog(makeRecords(1), 1)
	log.tail = true
	conn := hangingCommitPoller{pollLog: pollLog{log}, entered: make(chan struct{}, 2)}
	rt := newRuntime(t, newClient(t, b), conn, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	waitCommit(t, conn)
	return rt, conn, cancel, done
}

// waitCommit waits for the next call of Commit.
func waitCommit(t *testing.T, conn hangingCommitPoller) {
	t.Helper()
	select {
	case <-conn.entered:
	case <-time.After(time.Minute):
		t.Fatal("Commit not called within a minute")
	}
}

func hangingCommitOptions(clk *clock.Fake) source.Options {
	opts := testOptions(clk)
	opts.DrainTimeout = 2 * time.Second
	opts.PollInterval = time.Hour
	opts.CheckpointInterval = time.Hour
	return opts
}

// TestDrainTimeoutBoundsHangingCommit ends the Run's context while the
// commit loop waits in a Commit that hangs. Once the pipeline has drained,
// that commit is cut short, and the final commit, which hangs too, is
// bounded by what remains of DrainTimeout: Run returns when the clock
// reaches DrainTimeout, long before CommitTimeout.
func TestDrainTimeoutBoundsHangingCommit(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	opts := hangingCommitOptions(clk)
	rt, conn, cancel, done := startHangingCommit(t, clk, opts)

	start := clk.Now()
	cancel()
	waitCommit(t, conn) // the final commit
	waitForTimer(t, clk, start.Add(opts.DrainTimeout))
	clk.Advance(opts.DrainTimeout)
	err := waitRun(t, done)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the final commit's deadline", err)
	}
	if elapsed := clk.Since(start); elapsed != opts.DrainTimeout {
		t.Errorf("Run returned %v after its context ended, want DrainTimeout %v", elapsed, opts.DrainTimeout)
	}
	if st := rt.Stats(); st.Commits != 0 || st.CommitFailures != 2 {
		t.Errorf("Stats = %+v, want two failed commits: the loop's, cut short, and the final one", st)
	}
	if conn.closes != 1 {
		t.Errorf("Close called %d times, want once", conn.closes)
	}
}

// TestForceCutsHangingCommitShort calls Force while Commit hangs. A Force
// during the final commit cuts it short, and Run returns without the clock
// moving. A Force during a commit of the commit loop cuts that one short,
// and leaves the final commit to run, within CommitTimeout when the Run's
// context has not ended, since a forced Run still commits what the broker
// acknowledged.
func TestForceCutsHangingCommitShort(t *testing.T) {
	t.Run("final commit", func(t *testing.T) {
		clk := clock.NewFake(time.Time{})
		rt, conn, cancel, done := startHangingCommit(t, clk, hangingCommitOptions(clk))
		start := clk.Now()
		cancel()
		waitCommit(t, conn) // the final commit, after the loop's was cut short
		rt.Force()
		err := waitRun(t, done)
		if !errors.Is(err, source.ErrForced) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want ErrForced, and a final commit cut short by it", err)
		}
		if elapsed := clk.Since(start); elapsed != 0 {
			t.Errorf("the clock moved %v, want Run to return at once", elapsed)
		}
	})
	t.Run("commit loop", func(t *testing.T) {
		clk := clock.NewFake(time.Time{})
		rt, conn, cancel, done := startHangingCommit(t, clk, hangingCommitOptions(clk))
		defer cancel()
		start := clk.Now()
		rt.Force()
		waitCommit(t, conn) // the final commit
		waitForTimer(t, clk, start.Add(source.DefaultCommitTimeout))
		clk.Advance(source.DefaultCommitTimeout)
		err := waitRun(t, done)
		if !errors.Is(err, source.ErrForced) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want ErrForced and the final commit's deadline", err)
		}
		if st := rt.Stats(); st.CommitFailures != 2 {
			t.Errorf("Stats = %+v, want two failed commits", st)
		}
	})
}
