package source_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// TestCheckpointNeverPassesFailedSend fails sends in the middle of
// pipelined batches and checks, at every commit, that every record before
// the checkpoint is stored on the broker: a failed send is stored only
// once its retry succeeds. The input hands out 20 records at a time and
// the next 20 only after a commit of the last, so that commits happen
// while sends fail.
func TestCheckpointNeverPassesFailedSend(t *testing.T) {
	b := danubetest.Start(t)
	b.FailNext("SendMessage", 7, codes.Unavailable)
	log := newLog(makeRecords(60), 20)
	log.avail = 20
	log.onCommit = func(cp source.Checkpoint) error {
		n := unpos(t, cp)
		stored := payloadCounts(b, testTopic)
		for i := range n {
			if stored[payload(i)] == 0 {
				t.Errorf("commit at %d covers %s, which the broker does not hold", n, payload(i))
			}
		}
		if n%20 == 0 {
			log.release(n + 20)
		}
		return nil
	}
	// The runtime's own waits (1 ms between empty polls) run in real time:
	// this test checks an invariant at every commit, whenever it happens.
	opts := testOptions(clock.Real())
	opts.PollInterval = time.Millisecond
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil: the client retries UNAVAILABLE", err)
	}
	t.Logf("%d duplicates", checkAtLeastOnce(t, b, 60, testTopic))
	commits := log.commitList()
	if len(commits) < 3 {
		t.Errorf("%d commits, want at least one per 20 records", len(commits))
	}
	for i := 1; i < len(commits); i++ {
		if unpos(t, commits[i]) <= unpos(t, commits[i-1]) {
			t.Errorf("commit %d at %d does not move past commit %d at %d", i, unpos(t, commits[i]), i-1, unpos(t, commits[i-1]))
		}
	}
	if got := unpos(t, log.lastCommit()); got != 60 {
		t.Errorf("last commit at %d, want 60", got)
	}
}

// TestCheckpointExcludesStoredButUnackedRecords holds the broker's
// acknowledgements back: the broker stores each record at once but sends
// its response only when its clock moves. The checkpoint follows the
// acknowledgements, not the stored records, and a drain forced while
// they are held commits nothing past the last acknowledged record.
func TestCheckpointExcludesStoredButUnackedRecords(t *testing.T) {
	brokerClock := clock.NewFake(time.Time{})
	b := danubetest.Start(t, danubetest.WithClock(brokerClock))
	b.Delay("SendMessage", time.Second)
	if err := brokerClock.BlockUntil(context.Background(), 1); err != nil { // the broker's reaper ticker
		t.Fatal(err)
	}
	idle := brokerClock.Waiters()

	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(10), 5)
	log.tail = true
	log.avail = 5
	opts := testOptions(clk)
	opts.CheckpointInterval = time.Hour
	opts.PollInterval = time.Millisecond
	opts.SendTimeout = time.Hour
	opts.DrainTimeout = 10 * time.Second
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)

	// The first batch is stored, and its five acknowledgements wait.
	eventually(t, "five acknowledgements held", func() bool { return brokerClock.Waiters() >= idle+5 })
	if n := len(b.Messages(testTopic)); n != 5 {
		t.Fatalf("%d records stored, want 5", n)
	}
	if commits := log.commitList(); len(commits) != 0 {
		t.Fatalf("commits %v before any acknowledgement, want none", commits)
	}

	// Release them: the checkpoint moves to 5. Then the second batch goes out.
	brokerClock.Advance(time.Second)
	eventually(t, "the commit at 5", func() bool { return unpos(t, log.lastCommit()) == 5 })
	log.release(10)
	eventually(t, "five more acknowledgements held", func() bool {
		clk.Advance(time.Millisecond) // past the poll interval
		return brokerClock.Waiters() >= idle+5
	})
	if n := len(b.Messages(testTopic)); n != 10 {
		t.Fatalf("%d records stored, want 10", n)
	}

	// Drain while the acknowledgements are held: the graceful phase runs out, the
	// forced phase cancels the sends, and nothing past 5 is committed.
	cancel()
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		default:
			clk.Advance(100 * time.Millisecond)
			runtime.Gosched()
		}
	}
	if !errors.Is(err, stage.ErrDrainTimeout) {
		t.Errorf("Run = %v, want a forced drain", err)
	}
	for _, cp := range log.commitList() {
		if unpos(t, cp) > 5 {
			t.Errorf("commit at %d passes the unacknowledged records 5 to 9", unpos(t, cp))
		}
	}
	if got := unpos(t, log.lastCommit()); got != 5 {
		t.Errorf("last commit at %d, want 5", got)
	}
	if st := rt.Stats(); st.Published != 5 || st.Failed != 5 {
		t.Errorf("Stats = %+v, want 5 published and 5 failed", st)
	}
}

// TestUnpublishableRecordStopsRunAndIsRepublished rejects one send with an
// error that retrying cannot cure. The Run stops without committing past
// that record, and the next Run, resuming from the commit, publishes it.
func TestUnpublishableRecordStopsRunAndIsRepublished(t *testing.T) {
	b := danubetest.Start(t)
	b.FailNext("SendMessage", 1, codes.InvalidArgument)
	log := newLog(makeRecords(30), 10)
	rt := newRuntime(t, newClient(t, b), pollLog{log}, testOptions(clock.NewFake(time.Time{})))

	err := rt.Run(context.Background())
	if !errors.Is(err, source.ErrUnpublished) || !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("Run = %v, want ErrUnpublished wrapping the broker's INVALID_ARGUMENT", err)
	}
	missing := -1
	stored := payloadCounts(b, testTopic)
	for i := range 30 {
		if stored[payload(i)] == 0 {
			if missing >= 0 {
				t.Fatalf("%s and %s missing, want one record missing", payload(missing), payload(i))
			}
			missing = i
		}
	}
	if missing < 0 {
		t.Fatal("every record stored, want the rejected one missing")
	}
	committed := log.lastCommit()
	if unpos(t, committed) > missing {
		t.Fatalf("commit at %d passes the rejected %s", unpos(t, committed), payload(missing))
	}
	if st := rt.Stats(); st.Failed != 1 {
		t.Errorf("Stats.Failed = %d, want 1", st.Failed)
	}

	// The next Run resumes at the commit and publishes the rest again.
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("second Run = %v", err)
	}
	if len(log.opens) != 2 || !log.opens[1].Equal(committed) {
		t.Errorf("second Open at %x, want the last commit %x", log.opens[len(log.opens)-1], committed)
	}
	stored = payloadCounts(b, testTopic)
	duplicates := 0
	for i := range 30 {
		c := stored[payload(i)]
		if c == 0 {
			t.Errorf("%s never stored", payload(i))
		}
		duplicates += max(c-1, 0)
	}
	if stored[payload(missing)] != 1 {
		t.Errorf("%s stored %d times, want once", payload(missing), stored[payload(missing)])
	}
	t.Logf("rejected %s; committed %d before it; %d duplicates after the restart", payload(missing), unpos(t, committed), duplicates)
	if got := unpos(t, log.lastCommit()); got != 30 {
		t.Errorf("last commit at %d, want 30", got)
	}
}

// TestExhaustedRetriesStopRun makes every send fail until the retries run
// out: nothing is committed, and the Run stops with ErrUnpublished.
func TestExhaustedRetriesStopRun(t *testing.T) {
	b := danubetest.Start(t)
	b.FailNext("SendMessage", 1_000_000, codes.Unavailable)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(5), 5)
	opts := testOptions(clk)
	opts.MaxRetries = 2
	opts.SendTimeout = time.Second
	opts.RetryBackoff = 100 * time.Millisecond
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	// The clock moves only once the Run has created its producer, whose
	// attempt has a timeout on the clock too.
	done := runAsync(context.Background(), rt)
	eventually(t, "the connector opened", func() bool { return log.openCount() == 1 })
	stop := driveClock(clk)
	defer stop()
	err := waitRun(t, done)
	if !errors.Is(err, source.ErrUnpublished) || !errors.Is(err, danube.ErrDeadlineExceeded) {
		t.Fatalf("Run = %v, want ErrUnpublished after the attempts timed out", err)
	}
	if commits := log.commitList(); len(commits) != 0 {
		t.Errorf("commits %v, want none", commits)
	}
	if n := len(b.Messages(testTopic)); n != 0 {
		t.Errorf("%d records stored, want none", n)
	}

	// A send that the client gave up on may still reach the broker after
	// the fault is gone, so records may be stored twice: at least once is
	// the promise.
	stop()
	b.FailNext("SendMessage", 0, codes.Unavailable)
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run after the broker recovered = %v", err)
	}
	t.Logf("%d duplicates", checkAtLeastOnce(t, b, 5, testTopic))
}

// TestPollErrorsRetriedThenFatalStops retries plain Poll errors after the
// backoff, and stops at the first error marked Fatal.
func TestPollErrorsRetriedThenFatalStops(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(3), 3)
	log.tail = true
	log.pollErrs = []error{errors.New("input busy"), errors.New("input busy")}
	opts := testOptions(clk)
	opts.RetryBackoff = time.Second
	opts.CheckpointInterval = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	done := runAsync(context.Background(), rt)
	start := clk.Now()
	waitForTimer(t, clk, start.Add(time.Second)) // after the first failure
	clk.Advance(time.Second)
	waitForTimer(t, clk, start.Add(3*time.Second)) // the second waits twice as long
	clk.Advance(2 * time.Second)
	eventually(t, "the records published", func() bool { return rt.Stats().Published == 3 })

	log.mu.Lock()
	log.pollErrs = []error{source.Fatal(errors.New("input gone"))}
	log.mu.Unlock()
	clk.Advance(source.DefaultPollInterval)
	err := waitRun(t, done)
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Run = %v, want the fatal Poll error", err)
	}
	if got := unpos(t, log.lastCommit()); got != 3 {
		t.Errorf("last commit at %d, want 3", got)
	}
	checkAllOnce(t, b, 3, testTopic)
}

// TestCommitFailureRetriedAtNextCommit fails one Commit: the runtime goes
// on, and a later commit persists the checkpoint.
func TestCommitFailureRetriedAtNextCommit(t *testing.T) {
	b := danubetest.Start(t)
	failures := 1
	log := newLog(makeRecords(20), 10)
	log.onCommit = func(source.Checkpoint) error {
		if failures > 0 {
			failures--
			return errors.New("disk full")
		}
		return nil
	}
	rt := newRuntime(t, newClient(t, b), pollLog{log}, testOptions(clock.NewFake(time.Time{})))

	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil: a failed commit is retried", err)
	}
	if got := unpos(t, log.lastCommit()); got != 20 {
		t.Errorf("last commit at %d, want 20", got)
	}
	if st := rt.Stats(); st.CommitFailures != 1 || unpos(t, st.Checkpoint) != 20 {
		t.Errorf("Stats = %+v, want 1 commit failure and checkpoint 20", st)
	}
}

// TestFatalCommitStopsRun stops the Run at a Commit error marked Fatal.
func TestFatalCommitStopsRun(t *testing.T) {
	b := danubetest.Start(t)
	log := newLog(makeRecords(20), 10)
	log.onCommit = func(source.Checkpoint) error { return source.Fatal(fmt.Errorf("checkpoint store gone")) }
	rt := newRuntime(t, newClient(t, b), pollLog{log}, testOptions(clock.NewFake(time.Time{})))

	err := rt.Run(context.Background())
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Run = %v, want the fatal commit error", err)
	}
	if st := rt.Stats(); st.Checkpoint != nil {
		t.Errorf("Stats.Checkpoint = %x, want none committed", st.Checkpoint)
	}
}

// TestForceCutsDrainShort holds the broker's acknowledgements back, so that a
// drain would wait for them; Force ends it at once, without committing
// the records the broker stored but did not acknowledge.
func TestForceCutsDrainShort(t *testing.T) {
	brokerClock := clock.NewFake(time.Time{})
	b := danubetest.Start(t, danubetest.WithClock(brokerClock))
	if err := brokerClock.BlockUntil(context.Background(), 1); err != nil { // the broker's reaper ticker
		t.Fatal(err)
	}
	idle := brokerClock.Waiters()

	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(20), 10)
	log.tail = true
	opts := testOptions(clk)
	opts.CheckpointInterval = time.Hour
	opts.SendTimeout = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	// The first ten are acknowledged at once, the next ten are held.
	log.avail = 10
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "the commit at 10", func() bool { return unpos(t, log.lastCommit()) == 10 })
	b.Delay("SendMessage", time.Hour)
	log.release(20)
	// Move the clock only to the end of the poll interval, never to the
	// send timeout: a send that timed out would be sent again.
	eventually(t, "ten acknowledgements held", func() bool {
		if d, ok := clk.NextDeadline(); ok && d.Sub(clk.Now()) <= source.DefaultPollInterval {
			clk.Set(d)
		}
		return brokerClock.Waiters() >= idle+10
	})

	cancel() // the drain waits for the held acknowledgements, on a clock that does not move
	rt.Force()
	err := waitRun(t, done)
	if !errors.Is(err, source.ErrForced) {
		t.Fatalf("Run = %v, want ErrForced", err)
	}
	if got := unpos(t, log.lastCommit()); got != 10 {
		t.Errorf("last commit at %d, want 10", got)
	}
	if n := len(b.Messages(testTopic)); n != 20 {
		t.Errorf("%d records stored, want 20: ten of them unacknowledged", n)
	}
	if st := rt.Stats(); st.Published != 10 || st.Failed != 10 {
		t.Errorf("Stats = %+v, want 10 published and 10 failed", st)
	}
	rt.Force() // between Runs: does nothing
}

// TestForceCutsRetryBackoffShort shows that Force fails a batch waiting
// out a retry backoff at once: the fake clock never reaches the end of the
// wait, and the drain deadline is far away.
func TestForceCutsRetryBackoffShort(t *testing.T) {
	b := danubetest.Start(t)
	b.FailNext("SendMessage", 1_000_000, codes.Unavailable)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(5), 5)
	opts := testOptions(clk)
	opts.MaxRetries = 5
	opts.SendTimeout = time.Second
	opts.RetryBackoff = 20 * time.Second
	opts.DrainTimeout = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	start := clk.Now()
	eventually(t, "the connector opened", func() bool { return log.openCount() == 1 })
	waitForTimer(t, clk, start.Add(time.Second)) // the first attempt's timeout
	clk.Advance(time.Second)
	eventually(t, "the retry backoff", func() bool {
		for _, d := range clk.Deadlines() {
			if d.Sub(start) > 10*time.Second {
				return true
			}
		}
		return false
	})

	cancel()
	rt.Force()
	err := waitRun(t, done)
	if !errors.Is(err, source.ErrForced) {
		t.Fatalf("Run = %v, want ErrForced", err)
	}
	if commits := log.commitList(); len(commits) != 0 {
		t.Errorf("commits %v, want none: nothing was acknowledged", commits)
	}
	if elapsed := clk.Since(start); elapsed >= 20*time.Second {
		t.Errorf("the fake clock moved %v, past the retry backoff", elapsed)
	}
}
