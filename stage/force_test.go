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

// hangingWriter returns a writer that signals each call on started and
// then waits, for release when it is the call numbered in releases, and
// for its context otherwise.
func hangingWriter(log *batchLog, started chan<- int, release map[int]chan struct{}) Writer[int] {
	calls := 0
	return WriterFunc[int](func(ctx context.Context, batch []Msg[int]) error {
		calls++
		select {
		case started <- calls:
		case <-ctx.Done():
		}
		if ch, ok := release[calls]; ok {
			select {
			case <-ch:
				log.add(batch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		<-ctx.Done()
		return ctx.Err()
	})
}

func TestForceEndsGracefulDrain(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	started := make(chan int, 1)
	var log batchLog
	p := New("p", testOptions(clk, nil))
	src := &sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", hangingWriter(&log, started, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-started
	drainStart := clk.Now()
	cancel()
	waitForTimer(t, clk, drainStart.Add(8*time.Second)) // the graceful phase has begun
	waitStatus(t, p, "source", statusDone)
	waitStatus(t, p, "batch", statusDone)
	p.Force()
	p.Force() // a second call changes nothing
	err := wait(t, done)

	var derr *DrainError
	if !errors.As(err, &derr) || !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Run = %v, want a *DrainError", err)
	}
	if !derr.Forced || !strings.Contains(err.Error(), "drain forced") {
		t.Errorf("DrainError = %+v (%q), want it marked forced", derr, err)
	}
	if !slices.Equal(derr.Stuck, []string{"p/write"}) || derr.Nacked != 3 {
		t.Errorf("DrainError = %+v, want 3 nacked, stuck in p/write", derr)
	}
	if !clk.Now().Equal(drainStart) {
		t.Errorf("clock moved to %v: the drain waited for its deadline", clk.Now())
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "nack" {
			t.Errorf("message %d: settled %q, want nack", id, s.kind)
		}
	}
	p.Force() // after Run returned: nothing to do
}

func TestForceBeforeDrainSkipsGracefulPhase(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	started := make(chan int, 1)
	release := map[int]chan struct{}{1: make(chan struct{})}
	var log batchLog
	p := New("p", testOptions(clk, nil))
	src := &sliceSource[int]{msgs: rec.msgs(6, 1), hold: true}
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{MaxCount: 3}), "write", hangingWriter(&log, started, release), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	<-started
	p.Force()

	// Force alone does not stop the pipeline: the first batch is written
	// and acked, and the second one is handed to the writer.
	close(release[1])
	if call := <-started; call != 2 {
		t.Fatalf("writer call %d started, want 2", call)
	}
	eventually(t, "the first batch to be acked", func() bool { return p.Stats().Acked == 3 })
	select {
	case err := <-done:
		t.Fatalf("Run returned %v after Force alone, want it to go on until its context is done", err)
	default:
	}

	drainStart := clk.Now()
	cancel()
	err := wait(t, done)
	var derr *DrainError
	if !errors.As(err, &derr) || !derr.Forced {
		t.Fatalf("Run = %v, want a forced *DrainError", err)
	}
	if !clk.Now().Equal(drainStart) {
		t.Errorf("clock moved to %v: the drain had a graceful phase", clk.Now())
	}
	got := rec.exactlyOnce(t, 6)
	for id, s := range got {
		want := "ack"
		if id >= 3 {
			want = "nack"
		}
		if s.kind != want {
			t.Errorf("message %d: settled %q, want %q", id, s.kind, want)
		}
	}
}

func TestForceAppliesToCurrentRunOnly(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	src := &sliceSource[int]{hold: true}
	started := make(chan int, 1)
	var log batchLog
	p := New("p", testOptions(clk, nil))
	// The first write hangs until the stage is cancelled; the others pass.
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write",
		hangingWriter(&log, started, map[int]chan struct{}{2: closed(), 3: closed()}), WriteOptions{})

	p.Force() // not running: nothing to do
	for run := 1; run <= 2; run++ {
		src.mu.Lock()
		src.msgs = []Msg[int]{rec.msg(run, 1)}
		src.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := runAsync(ctx, p)
		<-started
		if run == 1 {
			p.Force()
		}
		cancel()

		err := wait(t, done)
		var derr *DrainError
		switch {
		case run == 1 && (!errors.As(err, &derr) || !derr.Forced || derr.Nacked != 1):
			t.Errorf("run 1 = %v, want a forced *DrainError that nacked the message", err)
		case run == 2 && err != nil:
			t.Errorf("run 2 = %v, want a graceful drain: Force applied to run 1 only", err)
		}
	}

	if s := rec.of(1); len(s) != 1 || s[0].kind != "nack" {
		t.Errorf("message of run 1 settled %v, want one nack", s)
	}
	if s := rec.of(2); len(s) != 1 || s[0].kind != "ack" {
		t.Errorf("message of run 2 settled %v, want one ack", s)
	}
}

// closed returns a closed channel.
func closed() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func TestStageRestartedAfterForceDoesNothing(t *testing.T) {
	// A stage that fails as the drain is forced may be restarted by its
	// supervisor before the supervisor handles its own cancellation.
	rec := newRecorder()
	writes := 0
	w := WriterFunc[int](func(context.Context, []Msg[int]) error {
		writes++
		return nil
	})
	p := writePipeline(clock.NewFake(time.Time{}), nil, BatchOptions{}, w, WriteOptions{}, nil)
	if err := p.begin(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer p.end()

	// The write stage holds a batch whose first attempt was cut short.
	ws := p.stages[2].(*writeStage[int])
	ws.cur = ws.in.pool.get()
	ws.cur.msgs = append(ws.cur.msgs, rec.msg(0, 1))
	ws.cur.msgs[0].t.flow = p.flow
	p.flow.admit(1, 1)
	ws.attempts = 1
	p.forceCancel()

	if err := ws.Run(context.Background()); err != nil {
		t.Errorf("Run of the restarted stage = %v, want nil", err)
	}
	if writes != 0 {
		t.Errorf("Write called %d times after the drain was forced, want 0", writes)
	}
	p.cleanUp()
	if s := rec.exactlyOnce(t, 1); s[0].kind != "nack" {
		t.Errorf("held message settled %q, want nack", s[0].kind)
	}
}

// blockingOpener is a writer whose Open ignores its context and returns
// when release is closed.
type blockingOpener struct {
	opening chan struct{}
	release chan struct{}
}

func (w *blockingOpener) Open(context.Context) error {
	close(w.opening)
	<-w.release
	return nil
}

func (w *blockingOpener) Write(context.Context, []Msg[int]) error { return nil }

func TestStuckOpenAppliesWrittenResults(t *testing.T) {
	// A write stage restarted after it wrote a batch, but before it handed
	// the outcome to the ack stage, hangs in Open when the drain is forced.
	rec := newRecorder()
	w := &blockingOpener{opening: make(chan struct{}), release: make(chan struct{})}
	p := writePipeline(clock.NewFake(time.Time{}), nil, BatchOptions{}, w, WriteOptions{}, nil)
	if err := p.begin(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer p.end()

	ws := p.stages[2].(*writeStage[int])
	ws.results = ws.in.pool.get()
	ws.results.msgs = append(ws.results.msgs, rec.msg(0, 1))
	ws.results.msgs[0].t.flow = p.flow
	p.flow.admit(1, 1)
	done := make(chan error, 1)
	go func() { done <- ws.Run(context.Background()) }()
	<-w.opening

	p.forceCancel()
	res := p.cleanUp()
	if len(res.abandoned) != 1 || res.abandoned[0] != "p/write" {
		t.Errorf("abandoned = %v, want [p/write]", res.abandoned)
	}
	if s := rec.of(0); len(s) != 1 || s[0].kind != "ack" {
		t.Errorf("written message settled %v by the clean-up, want one ack", s)
	}

	close(w.release)
	<-done
	rec.exactlyOnce(t, 1)
	if st := p.Stats(); st.InFlight != 0 || st.Duplicates != 0 {
		t.Errorf("stats = %+v, want nothing in flight and no duplicates", st)
	}
}
