package source_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/supervisor"
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

// TestFinalStepsBoundedAfterCtxEnds ends the Run's context while the final
// commit or Close hangs, having begun under CommitTimeout. Run returns
// DrainTimeout after the context ended, long before CommitTimeout.
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

	// start runs conn, which reads log, on a fake clock.
	start := func(t *testing.T, conn source.Connector) (*clock.Fake, source.Options, context.CancelFunc, <-chan error) {
		t.Helper()
		clk := clock.NewFake(time.Time{})
		opts := newOpts(clk)
		rt := newRuntime(t, newClient(t, danubetest.Start(t)), conn, opts)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return clk, opts, cancel, runAsync(ctx, rt)
	}

	t.Run("final commit", func(t *testing.T) {
		log := newLog(makeRecords(3), 3) // io.EOF after three records
		conn := hangingCommitPoller{pollLog: pollLog{log}, entered: make(chan struct{}, 2)}
		clk, opts, cancel, done := start(t, conn)
		waitCommit(t, conn) // the final commit: the pipeline has returned
		endDuring(t, clk, opts, cancel, done)
		if log.closes != 1 {
			t.Errorf("Close called %d times, want once", log.closes)
		}
	})
	t.Run("close", func(t *testing.T) {
		log := newLog(makeRecords(3), 3)
		conn := hangingClosePoller{pollLog: pollLog{log}, entered: make(chan struct{}, 1)}
		clk, opts, cancel, done := start(t, conn)
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

// oncePanicCommitPoller panics in its first Commit, and records the
// others.
type oncePanicCommitPoller struct {
	pollLog
	once *sync.Once
}

func (p oncePanicCommitPoller) Commit(ctx context.Context, cp source.Checkpoint) error {
	p.once.Do(func() { panic("checkpoint store exploded") })
	return p.pollLog.Commit(ctx, cp)
}

// errStoreGone is the Fatal error of a checkpoint store in tests.
var errStoreGone = errors.New("checkpoint store gone")

// TestCommitFailureDuringDrainReported makes the commit loop's first
// Commit, during the drain, panic or fail with a Fatal error. The drain
// goes on and commits every record, and Run reports the failure once.
func TestCommitFailureDuringDrainReported(t *testing.T) {
	cases := []struct {
		name string
		conn func(*logState) source.Connector
		is   func(error) bool // matches the failure of Commit
	}{
		{
			name: "panic",
			conn: func(log *logState) source.Connector {
				return oncePanicCommitPoller{pollLog: pollLog{log}, once: new(sync.Once)}
			},
			is: func(err error) bool {
				_, ok := err.(*supervisor.PanicError)
				return ok
			},
		},
		{
			name: "fatal",
			conn: func(log *logState) source.Connector {
				var once sync.Once
				log.onCommit = func(source.Checkpoint) error {
					var err error
					once.Do(func() { err = source.Fatal(errStoreGone) })
					return err
				}
				return pollLog{log}
			},
			is: func(err error) bool { return err == errStoreGone },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, brokerClock, idle := heldBroker(t)
			log := newLog(makeRecords(10), 10)
			log.tail = true
			conn := tc.conn(log)
			opts := testOptions(clock.NewFake(time.Time{}))
			opts.MaxBuffered = 1
			opts.SendTimeout = time.Hour
			opts.PollInterval = time.Hour
			opts.CheckpointInterval = time.Hour
			rt := newRuntime(t, newClient(t, b), conn, opts)

			ctx, cancel := context.WithCancel(context.Background())
			done := runAsync(ctx, rt)
			eventually(t, "one record stored", func() bool { return log.pollCount() == 1 && len(b.Messages(testTopic)) == 1 })
			cancel()
			err := releaseUntilDone(t, done, brokerClock, idle)

			if n := countErrors(err, tc.is); n != 1 {
				t.Errorf("Run = %v, contains the Commit failure %d times, want once", err, n)
			}
			if got := unpos(t, log.lastCommit()); got != 10 {
				t.Errorf("last commit resumes after %d records, want 10", got)
			}
			if st := rt.Stats(); st.CommitFailures != 1 {
				t.Errorf("Stats = %+v, want one failed commit", st)
			}
		})
	}
}

// countErrors returns how many errors in the tree of err match is.
func countErrors(err error, is func(error) bool) int {
	if err == nil {
		return 0
	}
	if is(err) {
		return 1
	}
	n := 0
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		n += countErrors(u.Unwrap(), is)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			n += countErrors(e, is)
		}
	}
	return n
}
