package source_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// heldBroker starts a broker on a fake clock whose SendMessage responses
// are held for a second of that clock. It returns the broker, its clock,
// and the number of timers that wait on that clock when nothing is held.
func heldBroker(t *testing.T) (*danubetest.Broker, *clock.Fake, int) {
	t.Helper()
	brokerClock := clock.NewFake(time.Time{})
	b := danubetest.Start(t, danubetest.WithClock(brokerClock))
	if err := brokerClock.BlockUntil(context.Background(), 1); err != nil { // the reaper ticker
		t.Fatal(err)
	}
	b.Delay("SendMessage", time.Second)
	return b, brokerClock, brokerClock.Waiters()
}

// releaseUntilDone waits for done, moving the broker's clock whenever it
// holds an acknowledgement, so that each is released.
func releaseUntilDone(t *testing.T, done <-chan error, brokerClock *clock.Fake, idle int) error {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not return within a minute")
		}
		if brokerClock.Waiters() > idle {
			brokerClock.Advance(time.Second)
		}
		runtime.Gosched()
	}
}

// countingStream returns a streaming connector that emits n records, then
// waits for its context to end, and the function that returns how many of
// them emit accepted.
func countingStream(n int) (streamFunc, func() int) {
	var mu sync.Mutex
	accepted := 0
	conn := streamFunc{logState: newLog(nil, 0), stream: func(ctx context.Context, emit func(source.Record) error) error {
		for _, rec := range makeRecords(n) {
			if err := emit(rec); err != nil {
				return nil
			}
			mu.Lock()
			accepted++
			mu.Unlock()
		}
		<-ctx.Done()
		return nil
	}}
	return conn, func() int {
		mu.Lock()
		defer mu.Unlock()
		return accepted
	}
}

// checkDrainedAll checks that a drain published and committed all n
// records and counted none as failed.
func checkDrainedAll(t *testing.T, rt *source.Runtime, b *danubetest.Broker, lastCommit source.Checkpoint, n int) {
	t.Helper()
	checkAllOnce(t, b, n, testTopic)
	if st := rt.Stats(); st.Published != uint64(n) || st.Failed != 0 {
		t.Errorf("Stats = %+v, want %d published and none failed", st, n)
	}
	if got := unpos(t, lastCommit); got != n {
		t.Errorf("last commit at %d, want %d", got, n)
	}
}

// TestStreamDrainPublishesEmittedRecords ends the Run's context after emit
// took ten records (it returned nil) and while the broker holds the
// acknowledgement of the first. Only one record may be in flight, so nine
// wait in the runtime: the drain publishes them all, and Run returns nil.
func TestStreamDrainPublishesEmittedRecords(t *testing.T) {
	b, brokerClock, idle := heldBroker(t)
	conn, accepted := countingStream(10)
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.MaxBuffered = 1
	opts.SendTimeout = time.Hour
	rt := newRuntime(t, newClient(t, b), conn, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "ten records taken and one stored", func() bool {
		return accepted() == 10 && len(b.Messages(testTopic)) == 1
	})
	cancel()
	if err := releaseUntilDone(t, done, brokerClock, idle); err != nil {
		t.Fatalf("Run = %v, want nil after a drain that published everything", err)
	}
	checkDrainedAll(t, rt, b, conn.lastCommit(), 10)
}

// TestPollDrainPublishesPolledRecords ends the Run's context after Poll
// returned ten records and while the first is in flight: the drain
// publishes the nine others too, and polls no more.
func TestPollDrainPublishesPolledRecords(t *testing.T) {
	b, brokerClock, idle := heldBroker(t)
	log := newLog(makeRecords(10), 10)
	log.tail = true
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.MaxBuffered = 1
	opts.SendTimeout = time.Hour
	opts.PollInterval = time.Hour
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, rt)
	eventually(t, "one record stored", func() bool { return log.pollCount() == 1 && len(b.Messages(testTopic)) == 1 })
	cancel()
	if err := releaseUntilDone(t, done, brokerClock, idle); err != nil {
		t.Fatalf("Run = %v, want nil after a drain that published everything", err)
	}
	checkDrainedAll(t, rt, b, log.lastCommit(), 10)
	if n := log.pollCount(); n != 1 {
		t.Errorf("Poll called %d times, want once: the drain polls no more", n)
	}
}

// fatalAfterPoller returns all its records in one Poll together with an
// error marked Fatal, as jsonl does when a line after them is too long.
type fatalAfterPoller struct {
	pollLog
	err error
}

func (p fatalAfterPoller) Poll(ctx context.Context) ([]source.Record, error) {
	recs, _ := p.pollLog.Poll(ctx)
	return recs, p.err
}

// TestFatalPollKeepsRecordsReturnedWithIt returns 300 records with a Fatal
// error. Records returned with an error are kept: the Run stops with the
// error, but only after publishing and committing all 300, although only
// 128 fit in the pipeline when the drain begins.
func TestFatalPollKeepsRecordsReturnedWithIt(t *testing.T) {
	b, brokerClock, idle := heldBroker(t)
	log := newLog(makeRecords(300), 300)
	conn := fatalAfterPoller{pollLog: pollLog{log}, err: source.Fatal(errors.New("line 301 too long"))}
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.MaxBuffered = 128
	opts.SendTimeout = time.Hour
	rt := newRuntime(t, newClient(t, b), conn, opts)

	done := runAsync(context.Background(), rt)
	err := releaseUntilDone(t, done, brokerClock, idle)
	if !errors.Is(err, source.ErrFatal) || errors.Is(err, source.ErrUnpublished) {
		t.Fatalf("Run = %v, want the fatal Poll error alone", err)
	}
	checkDrainedAll(t, rt, b, log.lastCommit(), 300)
}

// TestDrainCutShortCountsRecordsNotPublished holds every acknowledgement,
// so that the drain cannot publish the ten records the runtime took. When
// the graceful share of DrainTimeout has passed, the drain is forced: the
// record in flight and the nine still waiting in the input count as
// failed, nothing is committed, and Run reports them.
func TestDrainCutShortCountsRecordsNotPublished(t *testing.T) {
	for _, mode := range []string{"poll", "stream"} {
		t.Run(mode, func(t *testing.T) {
			b, _, _ := heldBroker(t)
			var conn source.Connector
			var log *logState
			if mode == "poll" {
				log = newLog(makeRecords(10), 10)
				log.tail = true
				conn = pollLog{log}
			} else {
				stream, _ := countingStream(10)
				conn, log = stream, stream.logState
			}
			clk := clock.NewFake(time.Time{})
			opts := testOptions(clk)
			opts.MaxBuffered = 1
			opts.SendTimeout = time.Hour
			opts.PollInterval = time.Hour
			opts.CheckpointInterval = time.Hour
			opts.DrainTimeout = 10 * time.Second
			rt := newRuntime(t, newClient(t, b), conn, opts)

			ctx, cancel := context.WithCancel(context.Background())
			done := runAsync(ctx, rt)
			eventually(t, "one record stored", func() bool { return len(b.Messages(testTopic)) == 1 })
			cancel()
			// The drain is forced once its graceful share has passed:
			// 80% of the pipeline's 80% of DrainTimeout. The forced phase
			// cancels the sends, and Run returns without waiting for
			// more time to pass.
			waitForTimer(t, clk, clk.Now().Add(6400*time.Millisecond))
			clk.Advance(6400 * time.Millisecond)
			err := waitRun(t, done)

			if !errors.Is(err, source.ErrUnpublished) || !errors.Is(err, stage.ErrDrainTimeout) || errors.Is(err, source.ErrForced) {
				t.Errorf("Run = %v, want unpublished records after the drain deadline", err)
			}
			if st := rt.Stats(); st.Published != 0 || st.Failed != 10 {
				t.Errorf("Stats = %+v, want none published and 10 failed", st)
			}
			if commits := log.commitList(); len(commits) != 0 {
				t.Errorf("commits %v, want none: nothing was acknowledged", commits)
			}
		})
	}
}
