package stage

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestBatchEndsAtMaxCount(t *testing.T) {
	rec := newRecorder()
	var log batchLog
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(10, 1), BatchOptions{MaxCount: 4}, recordingWriter(&log, nil), WriteOptions{}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}
	if got := log.get(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches = %v, want %v", got, want)
	}
}

func TestBatchEndsBeforeMaxBytes(t *testing.T) {
	rec := newRecorder()
	msgs := []Msg[int]{rec.msg(0, 100), rec.msg(1, 100), rec.msg(2, 100), rec.msg(3, 1000), rec.msg(4, 50), rec.msg(5, 200)}
	var log batchLog
	p := writePipeline(clock.NewFake(time.Time{}), msgs, BatchOptions{MaxBytes: 250}, recordingWriter(&log, nil), WriteOptions{}, nil)

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A message larger than MaxBytes makes a batch of its own.
	want := [][]int{{0, 1}, {2}, {3}, {4, 5}}
	if got := log.get(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches = %v, want %v", got, want)
	}
}

func TestBatchEndsAfterMaxWait(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	obs, received := signalReceived("batch", 3)
	var log batchLog
	p := New("p", testOptions(clk, func(o *Options) {
		o.ChunkSize = 3 // the source fills whole chunks, so the entry never reports idle
		o.Observer = obs
	}))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}))
	Write(Batch(src, "batch", BatchOptions{MaxWait: time.Second}), "write", recordingWriter(&log, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, p)
	<-received
	waitForTimer(t, clk, clk.Now().Add(time.Second))
	if got := log.get(); len(got) != 0 {
		t.Fatalf("batches before MaxWait = %v, want none", got)
	}

	clk.Advance(time.Second)
	eventually(t, "the batch to be written", func() bool { return len(log.get()) == 1 })
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := log.get(); !slices.Equal(got[0], []int{0, 1, 2}) {
		t.Errorf("batches = %v, want [[0 1 2]]", got)
	}
	for id, s := range rec.exactlyOnce(t, 3) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestIdleEntryFlushesPartialBatch(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	start := clk.Now()
	var log batchLog
	p := New("p", testOptions(clk, nil))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(3, 1), hold: true}))
	Write(Batch(src, "batch", BatchOptions{MaxCount: 1000, MaxWait: time.Hour}), "write", recordingWriter(&log, nil), WriteOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, p)

	// The source had fewer messages than asked for: the batch goes out at
	// once, while the pipeline still runs and without time passing.
	eventually(t, "the partial batch to be acked", func() bool { return p.Stats().Acked == 3 })
	if !clk.Now().Equal(start) {
		t.Errorf("clock moved to %v", clk.Now())
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := log.get(); len(got) != 1 || !slices.Equal(got[0], []int{0, 1, 2}) {
		t.Errorf("batches = %v, want [[0 1 2]]", got)
	}
}

func TestInFlightLimitFlushesPartialBatch(t *testing.T) {
	// Only 10 messages may be unsettled, as with a broker that delivers
	// few unacknowledged messages: a batch of 1,000 would never fill, and
	// waiting an hour for it would stall the pipeline.
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	var log batchLog
	p := writePipeline(clk, rec.msgs(100, 1), BatchOptions{MaxCount: 1000, MaxWait: time.Hour}, recordingWriter(&log, nil), WriteOptions{}, func(o *Options) {
		o.MaxInFlight = 10
	})

	if err := wait(t, runAsync(context.Background(), p)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if v := log.values(); !slices.Equal(v, ids(100)) {
		t.Errorf("written = %v, want 0..99 in order", v)
	}
	for _, b := range log.get() {
		if len(b) > 10 {
			t.Errorf("batch of %d messages, want at most the in-flight limit of 10", len(b))
		}
	}
	rec.exactlyOnce(t, 100)
}

func TestBatchesKeepOrderThroughStages(t *testing.T) {
	rec := newRecorder()
	var log batchLog
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) {
		o.ChunkSize = 7
		o.ChannelCapacity = 1
	}))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(1000, 1), chunk: 5}))
	plusOne := Then(src, "plus-one", Map(func(_ context.Context, v int) (int, error) { return v + 1, nil }))
	minusOne := Then(plusOne, "minus-one", Map(func(_ context.Context, v int) (int, error) { return v - 1, nil }))
	Write(Batch(minusOne, "batch", BatchOptions{MaxCount: 33}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if v := log.values(); !slices.Equal(v, ids(1000)) {
		t.Errorf("written out of order: %v", v)
	}
	rec.exactlyOnce(t, 1000)
}
