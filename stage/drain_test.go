package stage

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestShutdownDrainsPartialBatch(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	start := clk.Now()
	obs, received := signalReceived("batch", 3)
	var log batchLog
	p := New("p", testOptions(clk, func(o *Options) {
		o.ChunkSize = 3 // whole chunks: the entry never reports idle
		o.Observer = obs
	}))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}))
	Write(Batch(src, "batch", BatchOptions{MaxWait: time.Hour}), "write", recordingWriter(&log, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-received
	cancel()

	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v, want a graceful drain", err)
	}
	if !clk.Now().Equal(start) {
		t.Errorf("clock moved to %v: the drain waited for time", clk.Now())
	}
	if got := log.get(); len(got) != 1 || !slices.Equal(got[0], []int{0, 1, 2}) {
		t.Errorf("batches = %v, want the partial batch [[0 1 2]]", got)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestDrainFinishesSlowWrites(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	open := make(chan struct{})
	var log batchLog
	src := &sliceSource[int]{msgs: rec.msgs(12, 1), hold: true}
	p := New("p", testOptions(clk, func(o *Options) { o.ChunkSize = 4 }))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{MaxCount: 4}), "write", gatedWriter(&log, open), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	eventually(t, "the source to hand over every message", func() bool { return src.handedOver() == 12 })
	cancel()
	close(open)

	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v, want a graceful drain", err)
	}
	if v := log.values(); !slices.Equal(v, ids(12)) {
		t.Errorf("written = %v, want 0..11", v)
	}
	for id, s := range rec.exactlyOnce(t, 12) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestForcedDrainCancelsWriteAndNacks(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	started := make(chan struct{})
	w := WriterFunc[int](func(ctx context.Context, _ []Msg[int]) error {
		close(started)
		<-ctx.Done() // a write that never completes, but honours its context
		return ctx.Err()
	})
	src := &sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}
	p := New("p", testOptions(clk, nil))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", w, WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-started
	drainStart := clk.Now()
	cancel()

	// The stages before the writer finish; the writer holds the drain up
	// until the graceful phase, 80% of the 10 s timeout, runs out.
	waitStatus(t, p, "source", statusDone)
	waitStatus(t, p, "batch", statusDone)
	waitForTimer(t, clk, drainStart.Add(8*time.Second))
	clk.Advance(8 * time.Second)
	err := wait(t, done)

	var derr *DrainError
	if !errors.As(err, &derr) || !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Run = %v, want a *DrainError", err)
	}
	if !slices.Equal(derr.Stuck, []string{"p/write"}) {
		t.Errorf("Stuck = %v, want [p/write]", derr.Stuck)
	}
	if len(derr.Abandoned) != 0 || derr.Unsettled != 0 || derr.Nacked != 3 {
		t.Errorf("DrainError = %+v, want 3 nacked, nothing abandoned or unsettled", derr)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "nack" || !strings.Contains(s.reason, "stopped before the message was written") {
			t.Errorf("message %d: settled %+v, want a nack", id, s)
		}
	}
}

func TestStuckWriterIsNackedAndNamed(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	started := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	w := WriterFunc[int](func(context.Context, []Msg[int]) error {
		calls++
		if calls == 1 {
			close(started)
			<-release // ignores its context
		}
		return nil
	})
	src := &sliceSource[int]{msgs: rec.msgs(20, 1), hold: true}
	p := New("p", testOptions(clk, nil))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{MaxCount: 5}), "write", w, WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-started
	eventually(t, "the source to hand over every message", func() bool { return src.handedOver() == 20 })
	drainStart := clk.Now()
	cancel()

	waitStatus(t, p, "source", statusDone)
	// The batch stage must have handed on or queued every batch before
	// the fake clock jumps to the deadline: on a loaded machine it may
	// still be processing, and would then be named stuck as well.
	batch := stageNamed(t, p, "batch")
	eventually(t, "the batch stage to be done or blocked on the writer", func() bool {
		st := batch.getStatus()
		return st == statusDone || st == statusSending
	})
	waitForTimer(t, clk, drainStart.Add(8*time.Second))
	clk.Advance(8 * time.Second)

	// Forced: every stage is cancelled; all but the writer return, and the
	// rest of the timeout runs out waiting for it.
	waitReturned(t, p, "ack")
	waitReturned(t, p, "batch")
	waitReturned(t, p, "source")
	waitForTimer(t, clk, drainStart.Add(10*time.Second))
	clk.Advance(2 * time.Second)
	err := wait(t, done)

	var derr *DrainError
	if !errors.As(err, &derr) {
		t.Fatalf("Run = %v, want a *DrainError", err)
	}
	if !slices.Equal(derr.Stuck, []string{"p/write"}) {
		t.Errorf("Stuck = %v, want [p/write]", derr.Stuck)
	}
	if !slices.Equal(derr.Abandoned, []string{"p/write"}) {
		t.Errorf("Abandoned = %v, want [p/write]", derr.Abandoned)
	}
	if derr.Nacked != 20 || derr.Unsettled != 0 {
		t.Errorf("Nacked = %d, Unsettled = %d, want 20 and 0: the batch held and those queued behind it", derr.Nacked, derr.Unsettled)
	}
	if !strings.Contains(err.Error(), "stuck in p/write") {
		t.Errorf("error %q does not name the stuck stage", err)
	}

	// The stuck write completes after all: its outcome must not be applied.
	close(release)
	eventually(t, "the abandoned write stage to return", func() bool {
		b := p.stages[2].base()
		b.mu.Lock()
		defer b.mu.Unlock()
		return !b.running
	})
	for id, s := range rec.exactlyOnce(t, 20) {
		if s.kind != "nack" {
			t.Errorf("message %d: settled %q, want nack", id, s.kind)
		}
	}
	if st := p.Stats(); st.Acked != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want nothing acked and nothing in flight", st)
	}
}

func TestDrainProcessesMessagesReceivedOnStop(t *testing.T) {
	// Messages that Receive returns together with the cancellation of its
	// context are still processed.
	rec := newRecorder()
	var log batchLog
	late := rec.msg(0, 1)
	calls := 0
	called := make(chan struct{})
	src := SourceFunc[int](func(ctx context.Context, buf []Msg[int]) (int, error) {
		calls++
		if calls == 1 {
			close(called)
		}
		<-ctx.Done()
		if calls > 1 {
			return 0, ctx.Err()
		}
		buf[0] = late
		return 1, ctx.Err()
	})
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-called
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s := rec.exactlyOnce(t, 1); s[0].kind != "ack" {
		t.Errorf("late message settled %q, want ack", s[0].kind)
	}
}

func TestForcedWriteAcksWhatItWrote(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	started := make(chan struct{})
	w := WriterFunc[int](func(ctx context.Context, _ []Msg[int]) error {
		close(started)
		<-ctx.Done()
		// Cancelled halfway: the first and last messages made it.
		return &BatchError{Failed: []Failure{{Index: 1, Err: ctx.Err()}}}
	})
	p := New("p", testOptions(clk, nil))
	src := &sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", w, WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-started
	drainStart := clk.Now()
	cancel()
	waitStatus(t, p, "batch", statusDone)
	waitForTimer(t, clk, drainStart.Add(8*time.Second))
	clk.Advance(8 * time.Second)

	var derr *DrainError
	if err := wait(t, done); !errors.As(err, &derr) {
		t.Fatalf("Run = %v, want a *DrainError", err)
	}
	got := rec.exactlyOnce(t, 3)
	for id, want := range []string{"ack", "nack", "ack"} {
		if got[id].kind != want {
			t.Errorf("message %d: settled %q, want %q", id, got[id].kind, want)
		}
	}
}

func TestDrainInterruptsRetryBackoff(t *testing.T) {
	tests := []struct {
		name string
		// wait is the backoff before the retry; force calls Force once the
		// drain has begun.
		wait  time.Duration
		force bool
		// The run ends with a graceful drain, or a forced one, after the
		// clock moved by moved.
		forced bool
		moved  time.Duration
		kind   string
		reason string
	}{
		{"retry after the graceful phase is not waited for", time.Hour, false, false, 0, "nack", "is draining"},
		{"retry within the graceful phase is made", 2 * time.Second, false, false, 2 * time.Second, "ack", ""},
		{"force ends the wait", 2 * time.Second, true, true, 0, "nack", "stopped before the message was written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			clk := clock.NewFake(time.Time{})
			var log batchLog
			w := recordingWriter(&log, func(call int, _ []Msg[int]) error {
				if call == 1 {
					return errors.New("target unavailable")
				}
				return nil
			})
			src := &sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}
			p := New("p", testOptions(clk, nil))
			retry := RetryPolicy{Initial: tt.wait, Jitter: -1, MaxAttempts: -1}
			Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", w, WriteOptions{Retry: retry})

			ctx, cancel := context.WithCancel(context.Background())
			done := runAsync(ctx, p)
			start := clk.Now()
			waitForTimer(t, clk, start.Add(tt.wait)) // the write stage waits to retry
			cancel()
			waitStatus(t, p, "batch", statusDone)
			if tt.force {
				p.Force()
			} else if tt.moved > 0 {
				clk.Advance(tt.moved)
			}
			err := wait(t, done)

			var derr *DrainError
			if got := errors.As(err, &derr); got != tt.forced || (!tt.forced && err != nil) {
				t.Fatalf("Run = %v, want a forced drain: %v", err, tt.forced)
			}
			if moved := clk.Since(start); moved != tt.moved {
				t.Errorf("clock moved %v during the drain, want %v", moved, tt.moved)
			}
			for id, s := range rec.exactlyOnce(t, 3) {
				if s.kind != tt.kind || !strings.Contains(s.reason, tt.reason) {
					t.Errorf("message %d: settled %+v, want %s with a reason containing %q", id, s, tt.kind, tt.reason)
				}
			}
		})
	}
}
