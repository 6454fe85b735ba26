package source_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
)

func TestPollModePublishesEveryRecordAndCommitsLast(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(30), 10)
	rt := newRuntime(t, newClient(t, b), pollLog{log}, testOptions(clk))

	// The clock never moves: Poll is called again at once while it returns
	// records, and io.EOF ends the Run.
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil after io.EOF", err)
	}

	checkAllOnce(t, b, 30, testTopic)
	if got := unpos(t, log.lastCommit()); got != 30 {
		t.Errorf("last commit resumes after %d records, want 30", got)
	}
	if polls := log.pollCount(); polls != 4 {
		t.Errorf("Poll called %d times, want 4 (three chunks, then io.EOF)", polls)
	}
	if len(log.opens) != 1 || log.opens[0] != nil || log.closes != 1 {
		t.Errorf("opens %v, closes %d; want one Open at nil and one Close", log.opens, log.closes)
	}
	st := rt.Stats()
	if st.Published != 30 || st.Failed != 0 || unpos(t, st.Checkpoint) != 30 {
		t.Errorf("Stats = %+v, want 30 published, none failed, checkpoint 30", st)
	}
}

func TestPollWaitsIntervalWhenIdle(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(3), 10)
	log.tail = true
	opts := testOptions(clk)
	opts.PollInterval = 2 * time.Second
	opts.CheckpointInterval = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)

	// The first Poll returns the records, the second none, and the third
	// waits for the interval.
	start := clk.Now()
	waitForTimer(t, clk, start.Add(2*time.Second))
	if polls := log.pollCount(); polls != 2 {
		t.Fatalf("Poll called %d times before the interval passed, want 2", polls)
	}
	clk.Advance(time.Second)
	if polls := log.pollCount(); polls != 2 {
		t.Fatalf("Poll called %d times half way through the interval, want 2", polls)
	}
	clk.Advance(time.Second)
	eventually(t, "the third poll", func() bool { return log.pollCount() == 3 })

	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v, want nil after a drain", err)
	}
	checkAllOnce(t, b, 3, testTopic)
	if got := unpos(t, log.lastCommit()); got != 3 {
		t.Errorf("last commit resumes after %d records, want 3", got)
	}
}

func TestStreamModePublishesEveryRecordAndCommitsLast(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(50), 0)
	rt := newRuntime(t, newClient(t, b), streamLog{log}, testOptions(clk))

	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want nil after Stream returned nil", err)
	}
	checkAllOnce(t, b, 50, testTopic)
	if got := unpos(t, log.lastCommit()); got != 50 {
		t.Errorf("last commit resumes after %d records, want 50", got)
	}
}

func TestStreamDrainCommitsLastAckedRecord(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(5000), 0)
	opts := testOptions(clk)
	opts.CheckpointEvery = source.NoCheckpointEvery
	opts.CheckpointInterval = time.Hour
	rt := newRuntime(t, newClient(t, b), streamLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "100 records published", func() bool { return rt.Stats().Published >= 100 })
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v, want nil after a drain", err)
	}

	// Nothing was committed until the drain; its commit covers exactly the
	// records published, which are stored once each.
	commits := log.commitList()
	if len(commits) != 1 {
		t.Fatalf("%d commits, want the one of the drain", len(commits))
	}
	n := unpos(t, commits[0])
	if published := int(rt.Stats().Published); n != published {
		t.Errorf("drain committed %d records, want the %d published", n, published)
	}
	checkAllOnce(t, b, n, testTopic)
}

func TestRunWhileRunningFails(t *testing.T) {
	b := danubetest.Start(t)
	log := newLog(makeRecords(1), 1)
	log.tail = true
	rt := newRuntime(t, newClient(t, b), pollLog{log}, testOptions(clock.NewFake(time.Time{})))

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "the record published", func() bool { return rt.Stats().Published == 1 })
	if err := rt.Run(ctx); !errors.Is(err, source.ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	if err := rt.Health(ctx); err != nil {
		t.Errorf("Health while running = %v, want nil", err)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := rt.Health(context.Background()); !errors.Is(err, source.ErrNotRunning) {
		t.Errorf("Health after Run = %v, want ErrNotRunning", err)
	}
}

func TestCommitsAtCheckpointInterval(t *testing.T) {
	b := danubetest.Start(t)
	clk := clock.NewFake(time.Time{})
	log := newLog(makeRecords(10), 10)
	log.tail = true
	opts := testOptions(clk)
	opts.CheckpointEvery = source.NoCheckpointEvery
	opts.CheckpointInterval = 5 * time.Second
	opts.PollInterval = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "ten records published", func() bool { return rt.Stats().Published == 10 })
	if commits := log.commitList(); len(commits) != 0 {
		t.Fatalf("commits %v before the interval passed, want none", commits)
	}

	clk.Advance(5 * time.Second)
	eventually(t, "the commit of the interval", func() bool { return unpos(t, log.lastCommit()) == 10 })

	// Nothing moved since: the next intervals commit nothing, and neither
	// does the drain.
	clk.Advance(5 * time.Second)
	clk.Advance(5 * time.Second)
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if commits := log.commitList(); len(commits) != 1 {
		t.Errorf("commits %x, want one: an unchanged checkpoint is not committed again", commits)
	}
}

// failingStream emits its records, then fails.
type failingStream struct {
	*logState
	err error
}

func (s failingStream) Stream(ctx context.Context, emit func(source.Record) error) error {
	if err := (streamLog{s.logState}).Stream(ctx, emit); err != nil {
		return err
	}
	return s.err
}

func TestStreamErrorStopsRunAfterPublishing(t *testing.T) {
	b := danubetest.Start(t)
	log := newLog(makeRecords(20), 0)
	conn := failingStream{logState: log, err: errors.New("connection to the input lost")}
	rt := newRuntime(t, newClient(t, b), conn, testOptions(clock.NewFake(time.Time{})))

	err := rt.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection to the input lost") {
		t.Fatalf("Run = %v, want the Stream error", err)
	}
	// What Stream emitted before it failed is published and committed.
	checkAllOnce(t, b, 20, testTopic)
	if got := unpos(t, log.lastCommit()); got != 20 {
		t.Errorf("last commit at %d, want 20", got)
	}
}

func TestEmitFailsOnceRuntimeStops(t *testing.T) {
	b := danubetest.Start(t)
	emitErr := make(chan error, 1)
	conn := streamFunc{logState: newLog(nil, 0), stream: func(ctx context.Context, emit func(source.Record) error) error {
		for i := 0; ; i++ {
			if err := emit(source.Record{Payload: []byte(payload(i)), Position: pos(i + 1)}); err != nil {
				emitErr <- err
				return nil
			}
		}
	}}
	rt := newRuntime(t, newClient(t, b), conn, testOptions(clock.NewFake(time.Time{})))

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "records published", func() bool { return rt.Stats().Published >= 50 })
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := <-emitErr; !errors.Is(err, source.ErrStopped) {
		t.Errorf("emit after the stop = %v, want ErrStopped", err)
	}
}

// streamFunc is a connector whose Stream is a function.
type streamFunc struct {
	*logState
	stream func(ctx context.Context, emit func(source.Record) error) error
}

func (s streamFunc) Stream(ctx context.Context, emit func(source.Record) error) error {
	return s.stream(ctx, emit)
}
