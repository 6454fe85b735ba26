package stage

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// writePipeline returns a pipeline whose source hands over msgs and whose
// writer is w: source, batch, write.
func writePipeline(clk *clock.Fake, msgs []Msg[int], batch BatchOptions, w Writer[int], wo WriteOptions, change func(*Options)) *Pipeline {
	p := New("p", testOptions(clk, change))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: msgs}))
	Write(Batch(src, "batch", batch), "write", w, wo)
	return p
}

func TestRetryGivesEachAttemptFreshContext(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	start := clk.Now()

	var ctxs []context.Context
	var errAtCall []error
	firstStarted := make(chan struct{})
	w := WriterFunc[int](func(ctx context.Context, _ []Msg[int]) error {
		ctxs = append(ctxs, ctx)
		errAtCall = append(errAtCall, ctx.Err())
		if len(ctxs) == 1 {
			close(firstStarted)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	p := writePipeline(clk, rec.msgs(3, 1), BatchOptions{}, w,
		WriteOptions{Retry: RetryPolicy{AttemptTimeout: 5 * time.Second, Initial: -1}}, nil)

	done := runAsync(context.Background(), p)
	<-firstStarted
	clk.Advance(5 * time.Second)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if len(ctxs) != 2 {
		t.Fatalf("Write called %d times, want 2", len(ctxs))
	}
	if ctxs[0] == ctxs[1] {
		t.Error("both attempts got the same context")
	}
	if cause := context.Cause(ctxs[0]); !errors.Is(cause, ErrAttemptTimeout) || !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("first attempt's cause = %v, want ErrAttemptTimeout wrapping context.DeadlineExceeded", cause)
	}
	if errAtCall[1] != nil {
		t.Errorf("second attempt's context was done when Write was called: %v", errAtCall[1])
	}
	for i, ctx := range ctxs {
		if d, ok := ctx.Deadline(); ok {
			t.Errorf("attempt %d: Deadline() = %v, want none: a deadline on the fake clock is no wall time", i+1, d)
		}
	}
	if !clk.Now().Equal(start.Add(5 * time.Second)) {
		t.Errorf("clock at %v, want the run to end once the first attempt timed out", clk.Now())
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestAttemptDeadlineIsWallTime(t *testing.T) {
	const timeout = time.Hour
	wallDeadline := time.Now().Add(time.Minute)
	parent, cancelParent := context.WithDeadline(context.Background(), wallDeadline)
	defer cancelParent()

	t.Run("real clock reports the attempt's deadline", func(t *testing.T) {
		before := time.Now()
		ctx, release := attemptContext(context.Background(), clock.Real(), timeout)
		defer release()
		d, ok := ctx.Deadline()
		if !ok || d.Before(before.Add(timeout)) || d.After(time.Now().Add(timeout)) {
			t.Errorf("Deadline() = %v, %v, want about an hour from now", d, ok)
		}
	})
	t.Run("fake clock reports only the parent's", func(t *testing.T) {
		clk := clock.NewFake(time.Time{})
		ctx, release := attemptContext(parent, clk, timeout)
		defer release()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(wallDeadline) {
			t.Errorf("Deadline() = %v, %v, want the parent's %v", d, ok, wallDeadline)
		}

		clk.Advance(timeout)
		<-ctx.Done()
		if cause := context.Cause(ctx); !errors.Is(cause, ErrAttemptTimeout) {
			t.Errorf("cause = %v, want ErrAttemptTimeout once the fake clock passed the timeout", cause)
		}
	})
}

func TestRetryWaitsBackoffOnClock(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	start := clk.Now()

	var mu sync.Mutex
	var calls []time.Duration
	w := WriterFunc[int](func(context.Context, []Msg[int]) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, clk.Since(start))
		if len(calls) < 3 {
			return errors.New("target unavailable")
		}
		return nil
	})
	retry := RetryPolicy{Initial: time.Second, Multiplier: 2, Jitter: -1, MaxAttempts: 5}
	// A batch of one is full at once, so the batcher starts no timer that
	// driveClock could fire before the first attempt.
	p := writePipeline(clk, rec.msgs(1, 1), BatchOptions{MaxCount: 1}, w, WriteOptions{Retry: retry}, nil)

	stop := driveClock(clk)
	err := p.Run(context.Background())
	stop()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := []time.Duration{0, time.Second, 3 * time.Second}
	if !slices.Equal(calls, want) {
		t.Errorf("attempts at %v, want %v", calls, want)
	}
	if s := rec.exactlyOnce(t, 1); s[0].kind != "ack" {
		t.Errorf("settled %q, want ack", s[0].kind)
	}
}

func TestFailedBatchSettlesNoneAsAcked(t *testing.T) {
	tests := []struct {
		name   string
		err    func() error
		kind   string
		reason string
	}{
		{"permanent error dead-letters", func() error { return Permanent(errors.New("schema mismatch")) }, "dead-letter", "schema mismatch"},
		{"redeliver nacks", func() error { return Redeliver(time.Minute, errors.New("throttled")) }, "nack", "throttled"},
		{"plain error nacks after the last attempt", func() error { return errors.New("timeout") }, "nack", "write failed after 3 attempts: timeout"},
		{"panic nacks", func() error { panic("writer bug") }, "nack", "panicked: writer bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			w := WriterFunc[int](func(context.Context, []Msg[int]) error { return tt.err() })
			p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(4, 1), BatchOptions{}, w,
				WriteOptions{Retry: RetryPolicy{MaxAttempts: 3, Initial: -1}}, nil)

			if err := p.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}

			for id, s := range rec.exactlyOnce(t, 4) {
				if s.kind != tt.kind || !strings.Contains(s.reason, tt.reason) {
					t.Errorf("message %d: settled %+v, want %s with reason containing %q", id, s, tt.kind, tt.reason)
				}
			}
			if st := p.Stats(); st.Acked != 0 {
				t.Errorf("stats = %+v, want nothing acked", st)
			}
		})
	}
}

func TestBatchAckedEvenIfLaterBatchFails(t *testing.T) {
	rec := newRecorder()
	var log batchLog
	w := recordingWriter(&log, func(call int, _ []Msg[int]) error {
		if call == 2 {
			return Permanent(errors.New("rejected"))
		}
		return nil
	})
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(10, 1), BatchOptions{MaxCount: 5}, w, WriteOptions{}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if b := log.get(); len(b) != 2 || !slices.Equal(b[0], []int{0, 1, 2, 3, 4}) {
		t.Fatalf("batches = %v, want [0..4] then [5..9]", b)
	}
	for id, s := range rec.exactlyOnce(t, 10) {
		want := "ack"
		if id >= 5 {
			want = "dead-letter"
		}
		if s.kind != want {
			t.Errorf("message %d: settled %q, want %q", id, s.kind, want)
		}
	}
}

func TestPartialBatchSettlesEachMessage(t *testing.T) {
	rec := newRecorder()
	var log batchLog
	w := recordingWriter(&log, func(call int, _ []Msg[int]) error {
		if call > 1 {
			return nil
		}
		return &BatchError{Failed: []Failure{
			{Index: 1, Err: Permanent(errors.New("invalid document"))},
			{Index: 2, Err: Redeliver(3*time.Second, errors.New("shard busy"))},
			{Index: 4, Err: errors.New("write conflict")},
		}}
	})
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(6, 1), BatchOptions{}, w,
		WriteOptions{Retry: RetryPolicy{Initial: -1}}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if b := log.get(); len(b) != 2 || !slices.Equal(b[1], []int{4}) {
		t.Errorf("batches = %v, want the retry to carry message 4 alone", b)
	}
	want := []settlement{
		{kind: "ack"},
		{kind: "dead-letter", reason: "invalid document"},
		{kind: "nack", delay: 3 * time.Second, reason: "shard busy"},
		{kind: "ack"},
		{kind: "ack"},
		{kind: "ack"},
	}
	got := rec.exactlyOnce(t, 6)
	for id := range want {
		if got[id] != want[id] {
			t.Errorf("message %d: settled %+v, want %+v", id, got[id], want[id])
		}
	}
}

func TestInvalidBatchErrorRetriesWholeBatch(t *testing.T) {
	rec := newRecorder()
	var log batchLog
	w := recordingWriter(&log, func(call int, _ []Msg[int]) error {
		if call == 1 {
			return &BatchError{Failed: []Failure{{Index: 9, Err: errors.New("no such message")}}}
		}
		return nil
	})
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(3, 1), BatchOptions{}, w,
		WriteOptions{Retry: RetryPolicy{Initial: -1}}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if b := log.get(); len(b) != 2 || !slices.Equal(b[1], []int{0, 1, 2}) {
		t.Errorf("batches = %v, want the whole batch written again", b)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

// openingWriter counts Open calls and fails its first write with a fatal
// error.
type openingWriter struct {
	mu     sync.Mutex
	opens  int
	writes int
	log    batchLog
}

func (w *openingWriter) Open(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opens++
	return nil
}

func (w *openingWriter) Write(_ context.Context, batch []Msg[int]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes == 1 {
		return Fatal(errors.New("connection reset"))
	}
	w.log.add(batch)
	return nil
}

func TestFailedWriterRestartsWriterNotEntry(t *testing.T) {
	rec := newRecorder()
	var events eventCounter
	w := &openingWriter{}
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(4, 1), BatchOptions{}, w, WriteOptions{}, func(o *Options) {
		o.Supervisor = append(o.Supervisor, supervisor.WithHook(events.hook))
	})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if w.opens != 2 {
		t.Errorf("Open called %d times, want 2: once per run of the write stage", w.opens)
	}
	if v := w.log.values(); !slices.Equal(v, []int{0, 1, 2, 3}) {
		t.Errorf("written = %v, want the batch written by the restarted stage", v)
	}
	for id, s := range rec.exactlyOnce(t, 4) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
	want := map[string]int{
		"child_started p/source": 1,
		"child_started p/batch":  1,
		"child_started p/write":  2,
		"child_started p/ack":    2,
	}
	for key, n := range want {
		eventually(t, key, func() bool { return events.count(key) >= n })
		if got := events.count(key); got != n {
			t.Errorf("%s: %d events, want %d", key, got, n)
		}
	}
}

func TestWriterSettlingItselfCountsDuplicate(t *testing.T) {
	rec := newRecorder()
	w := WriterFunc[int](func(_ context.Context, batch []Msg[int]) error {
		batch[0].Ack() // wrong: the write stage settles what Write reports
		return nil
	})
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(2, 1), BatchOptions{}, w, WriteOptions{}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec.exactlyOnce(t, 2)
	if st := p.Stats(); st.Duplicates != 1 || st.Acked != 2 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 1 duplicate, 2 acked, none in flight", st)
	}
}

func TestSupervisorGivingUpNacksHeldAndRunsAgain(t *testing.T) {
	rec := newRecorder()
	src := &sliceSource[int]{msgs: rec.msgs(3, 1)}
	var failing sync.Mutex // held while the writer fails
	failing.Lock()
	broken := true
	w := WriterFunc[int](func(context.Context, []Msg[int]) error {
		if broken {
			return Fatal(errors.New("disk full"))
		}
		return nil
	})
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) {
		o.Supervisor = append(o.Supervisor, supervisor.WithIntensity(0, time.Minute))
	}))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", w, WriteOptions{})

	err := p.Run(context.Background())
	if !errors.Is(err, supervisor.ErrIntensity) {
		t.Fatalf("Run = %v, want an error wrapping supervisor.ErrIntensity", err)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "nack" {
			t.Errorf("message %d: settled %q, want nack", id, s.kind)
		}
	}

	// Fixed, the pipeline runs again over new channels.
	broken = false
	failing.Unlock()
	src.mu.Lock()
	src.msgs = []Msg[int]{rec.msg(3, 1), rec.msg(4, 1)}
	src.mu.Unlock()
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	got := rec.exactlyOnce(t, 5)
	for _, id := range []int{3, 4} {
		if got[id].kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, got[id].kind)
		}
	}
	if st := p.Stats(); st.InFlight != 0 || st.Nacked != 3 || st.Acked != 2 {
		t.Errorf("stats = %+v, want 3 nacked, 2 acked, none in flight", st)
	}
}

// gatedSettler blocks its acks until open is closed.
type gatedSettler struct {
	open <-chan struct{}
	rec  *recorder
	id   int
}

func (s *gatedSettler) Ack() {
	<-s.open
	s.rec.add(s.id, settlement{kind: "ack"})
}
func (s *gatedSettler) Nack(delay time.Duration, reason string) {
	s.rec.add(s.id, settlement{kind: "nack", delay: delay, reason: reason})
}
func (s *gatedSettler) DeadLetter(reason string) {
	s.rec.add(s.id, settlement{kind: "dead-letter", reason: reason})
}

func TestSlowAckDoesNotStallWrites(t *testing.T) {
	rec := newRecorder()
	open := make(chan struct{})
	msgs := make([]Msg[int], 30)
	for i := range msgs {
		msgs[i] = NewMsg(i, 1, &gatedSettler{open: open, rec: rec, id: i})
	}
	var log batchLog
	p := writePipeline(clock.NewFake(time.Time{}), msgs, BatchOptions{MaxCount: 5}, recordingWriter(&log, nil), WriteOptions{}, func(o *Options) {
		o.ChannelCapacity = 4
	})

	done := runAsync(context.Background(), p)

	// The ack stage is stuck on the first message's Ack; the writer goes
	// on until the channel to the ack stage is full: the batch being
	// acked, four queued, and one more waiting to be handed over.
	eventually(t, "six batches to be written", func() bool { return len(log.get()) == 6 })
	if got := rec.of(0); len(got) != 0 {
		t.Fatalf("message 0 settled %v before its Ack was let through", got)
	}

	close(open)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, s := range rec.exactlyOnce(t, 30) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}
