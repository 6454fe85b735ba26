package stage

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestInvalidPipelineIsRejected(t *testing.T) {
	nop := WriterFunc[int](func(context.Context, []Msg[int]) error { return nil })
	src := func() Source[int] { return &sliceSource[int]{} }
	identity := Map(func(_ context.Context, v int) (int, error) { return v, nil })

	tests := []struct {
		name  string
		build func() *Pipeline
		want  string
	}{
		{"no source", func() *Pipeline { return New("p", Options{}) }, "no source"},
		{"no writer", func() *Pipeline {
			p := New("p", Options{})
			Then(From(p, "source", src()), "map", identity)
			return p
		}, "no write stage"},
		{"duplicate name", func() *Pipeline {
			p := New("p", Options{})
			f := Then(From(p, "source", src()), "map", identity)
			f = Then(f, "map", identity)
			Write(Batch(f, "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, `stage "map": the name is taken`},
		{"ack name taken", func() *Pipeline {
			p := New("p", Options{})
			f := Then(From(p, "source", src()), AckStageName, identity)
			Write(Batch(f, "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, "taken by the ack stage"},
		{"flow used twice", func() *Pipeline {
			p := New("p", Options{})
			f := From(p, "source", src())
			Then(f, "a", identity)
			Write(Batch(f, "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, `feeds stage "a" already`},
		{"nil function", func() *Pipeline {
			p := New("p", Options{})
			f := Then(From(p, "source", src()), "map", Map[int, int](nil))
			Write(Batch(f, "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, "Map: nil function"},
		{"zero stage", func() *Pipeline {
			p := New("p", Options{})
			f := Then(From(p, "source", src()), "map", Stage[int, int]{})
			Write(Batch(f, "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, "zero Stage"},
		{"name with slash", func() *Pipeline {
			p := New("p", Options{})
			Write(Batch(From(p, "a/b", src()), "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, "contains '/'"},
		{"negative option", func() *Pipeline {
			p := New("p", Options{MaxInFlight: -1, ForceShare: 1.5})
			Write(Batch(From(p, "source", src()), "batch", BatchOptions{}), "write", nop, WriteOptions{})
			return p
		}, "MaxInFlight -1 is negative"},
		{"bad batch options", func() *Pipeline {
			p := New("p", Options{})
			Write(Batch(From(p, "source", src()), "batch", BatchOptions{MaxCount: -2}), "write", nop, WriteOptions{})
			return p
		}, "MaxCount -2 is negative"},
		{"bad retry policy", func() *Pipeline {
			p := New("p", Options{})
			Write(Batch(From(p, "source", src()), "batch", BatchOptions{}), "write", nop, WriteOptions{Retry: RetryPolicy{Multiplier: 0.5}})
			return p
		}, "multiplier 0.5 is less than 1"},
		{"nil writer", func() *Pipeline {
			p := New("p", Options{})
			Write(Batch(From(p, "source", src()), "batch", BatchOptions{}), "write", nil, WriteOptions{})
			return p
		}, "nil Writer"},
		{"second source", func() *Pipeline {
			p := New("p", Options{})
			Write(Batch(From(p, "source", src()), "batch", BatchOptions{}), "write", nop, WriteOptions{})
			Then(From(p, "second", src()), "map", identity)
			return p
		}, `stage "second": the pipeline has a source already`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.build()
			built := p.Err()
			if !errors.Is(built, ErrInvalidPipeline) {
				t.Fatalf("Err = %v, want ErrInvalidPipeline", built)
			}
			if !strings.Contains(built.Error(), tt.want) {
				t.Errorf("Err = %q, want it to mention %q", built, tt.want)
			}

			err := p.Run(context.Background())
			if !errors.Is(err, ErrInvalidPipeline) {
				t.Fatalf("Run = %v, want ErrInvalidPipeline", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %q, want it to mention %q", err, tt.want)
			}
			if err.Error() != built.Error() {
				t.Errorf("Run = %q, want the error Err returned before, %q", err, built)
			}
		})
	}
}

func TestErrOfValidPipelineIsNil(t *testing.T) {
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	f := Then(From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(3, 1)})), "map",
		Map(func(_ context.Context, v int) (int, error) { return v, nil }))
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "no write stage") {
		t.Errorf("Err before Write = %v, want the missing write stage", err)
	}
	var log batchLog
	Write(Batch(f, "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Err(); err != nil {
		t.Errorf("Err = %v, want nil", err)
	}
	if err := p.Err(); err != nil {
		t.Errorf("second Err = %v, want nil", err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run after Err: %v", err)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err after Run = %v, want nil", err)
	}
}

func TestConcurrentRunIsRejected(t *testing.T) {
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := &sliceSource[int]{msgs: rec.msgs(1, 1), hold: true}
	var log batchLog
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	eventually(t, "the message to be acked", func() bool { return p.Stats().Acked == 1 })
	if err := p.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestObserverSeesEveryStage(t *testing.T) {
	rec := newRecorder()
	var mu sync.Mutex
	received := map[string]int{}
	sent := map[string]int{}
	settled := map[string][3]int{}
	writes, written := 0, 0
	obs := Observer{
		Received: func(stage string, n int) { mu.Lock(); received[stage] += n; mu.Unlock() },
		Sent:     func(stage string, n int) { mu.Lock(); sent[stage] += n; mu.Unlock() },
		Settled: func(stage string, a, n, d int) {
			mu.Lock()
			c := settled[stage]
			settled[stage] = [3]int{c[0] + a, c[1] + n, c[2] + d}
			mu.Unlock()
		},
		Wrote: func(stage string, msgs, bytes int, _ time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			if stage != "write" || err != nil || bytes != 2*msgs {
				t.Errorf("Wrote(%q, %d, %d, %v): want stage write, 2 bytes a message, no error", stage, msgs, bytes, err)
			}
			writes++
			written += msgs
		},
	}
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) { o.Observer = obs }))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(100, 2)}))
	kept := Then(src, "filter", Filter(func(v int) bool { return v%4 != 0 }))
	failed := Then(kept, "check", Map(func(_ context.Context, v int) (int, error) {
		if v == 1 {
			return 0, errors.New("invalid")
		}
		return v, nil
	}))
	var log batchLog
	Write(Batch(failed, "batch", BatchOptions{MaxCount: 10}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for stage, want := range map[string]int{"source": 100, "filter": 100, "check": 75, "batch": 74, "write": 74, AckStageName: 74} {
		if received[stage] != want {
			t.Errorf("received[%s] = %d, want %d", stage, received[stage], want)
		}
	}
	for stage, want := range map[string]int{"source": 100, "filter": 75, "check": 74, "batch": 74} {
		if sent[stage] != want {
			t.Errorf("sent[%s] = %d, want %d", stage, sent[stage], want)
		}
	}
	for stage, want := range map[string][3]int{"filter": {25, 0, 0}, "check": {0, 0, 1}, AckStageName: {74, 0, 0}} {
		if settled[stage] != want {
			t.Errorf("settled[%s] = %v, want %v", stage, settled[stage], want)
		}
	}
	if written != 74 || writes != len(log.get()) {
		t.Errorf("Wrote saw %d messages in %d writes, want 74 in %d", written, writes, len(log.get()))
	}
}

func TestQueuesNameEveryChannel(t *testing.T) {
	p := New("p", Options{ChannelCapacity: 3})
	f := Then(From(p, "source", Source[int](&sliceSource[int]{})), "map", Map(func(_ context.Context, v int) (int, error) { return v, nil }))
	Write(Batch(f, "batch", BatchOptions{}), "write", WriterFunc[int](func(context.Context, []Msg[int]) error { return nil }), WriteOptions{})

	got := p.Queues()
	want := []Queue{
		{From: "source", To: "map", Cap: 3},
		{From: "map", To: "batch", Cap: 3},
		{From: "batch", To: "write", Cap: 3},
		{From: "write", To: AckStageName, Cap: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("Queues() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("queue %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestStageJoinedAfterRunIsRejected(t *testing.T) {
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := From(p, "source", Source[int](&sliceSource[int]{}))
	Write(Batch(src, "batch", BatchOptions{}), "write", WriterFunc[int](func(context.Context, []Msg[int]) error { return nil }), WriteOptions{})
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("first Run: %v", err)
	}

	Then(src, "late", Map(func(_ context.Context, v int) (int, error) { return v, nil }))
	err := p.Run(context.Background())
	if !errors.Is(err, ErrInvalidPipeline) || !strings.Contains(err.Error(), "joined after Run") {
		t.Errorf("second Run = %v, want ErrInvalidPipeline naming the late stage", err)
	}
}

func TestWriteAllocatesNothingPerBatch(t *testing.T) {
	const n = 20_000
	msgs := make([]Msg[int], n)
	for i := range msgs {
		msgs[i] = NewMsg(i, 8, nopSettler{})
	}
	p := New("p", Options{Logger: testOptions(nil, nil).Logger})
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: msgs}))
	batches := 0
	Write(Batch(src, "batch", BatchOptions{MaxCount: 1}), "write", WriterFunc[int](func(context.Context, []Msg[int]) error {
		batches++
		return nil
	}), WriteOptions{})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	runtime.ReadMemStats(&after)

	// With batches of one message, what a batch costs shows. The batch
	// stage may take a new chunk for a batch when the ones in flight are
	// not back yet, which is at most one allocation a batch. A context or
	// a backoff per batch in the write stage would add two or three more.
	if batches != n {
		t.Fatalf("%d batches written, want %d", batches, n)
	}
	perBatch := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%d allocations for %d batches", after.Mallocs-before.Mallocs, n)
	if perBatch > 2 {
		t.Errorf("%.2f allocations per batch, want at most 2", perBatch)
	}
}

func TestPipelineAllocatesNothingPerMessage(t *testing.T) {
	const n = 100_000
	msgs := make([]Msg[int], n)
	for i := range msgs {
		msgs[i] = NewMsg(i, 8, nopSettler{})
	}
	p := New("p", Options{Logger: testOptions(nil, nil).Logger})
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: msgs}))
	mapped := Then(src, "map", Map(func(_ context.Context, v int) (int, error) { return v + 1, nil }))
	kept := Then(mapped, "filter", Filter(func(v int) bool { return v >= 0 }))
	Write(Batch(kept, "batch", BatchOptions{MaxCount: 1000}), "write", WriterFunc[int](func(context.Context, []Msg[int]) error { return nil }), WriteOptions{})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	runtime.ReadMemStats(&after)

	// Starting the supervisor, the goroutines and the first chunks costs a
	// few hundred allocations whatever the number of messages.
	perMessage := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%d allocations for %d messages", after.Mallocs-before.Mallocs, n)
	if perMessage > 0.02 {
		t.Errorf("%.3f allocations per message (%d in all), want next to none", perMessage, after.Mallocs-before.Mallocs)
	}
	if st := p.Stats(); st.Acked != n {
		t.Errorf("acked %d, want %d", st.Acked, n)
	}
}
