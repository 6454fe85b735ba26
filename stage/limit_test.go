package stage

import (
	"context"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// gatedWriter blocks every write until open is closed, and records batches.
func gatedWriter(log *batchLog, open <-chan struct{}) Writer[int] {
	return WriterFunc[int](func(ctx context.Context, batch []Msg[int]) error {
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
		log.add(batch)
		return nil
	})
}

func TestInFlightCountLimitBlocksEntry(t *testing.T) {
	rec := newRecorder()
	src := &sliceSource[int]{msgs: rec.msgs(20, 1)}
	open := make(chan struct{})
	var log batchLog
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) { o.MaxInFlight = 5 }))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", gatedWriter(&log, open), WriteOptions{})

	done := runAsync(context.Background(), p)
	eventually(t, "the entry to wait for room", p.flow.waiting.Load)

	if n := src.handedOver(); n != 5 {
		t.Errorf("source handed over %d messages while 5 were unsettled, want 5", n)
	}
	if st := p.Stats(); st.InFlight != 5 {
		t.Errorf("in flight = %d, want 5", st.InFlight)
	}

	close(open)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, s := range rec.exactlyOnce(t, 20) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestInFlightBytesLimitBlocksEntry(t *testing.T) {
	rec := newRecorder()
	src := &sliceSource[int]{msgs: rec.msgs(10, 100)}
	open := make(chan struct{})
	var log batchLog
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) { o.MaxInFlightBytes = 250 }))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", gatedWriter(&log, open), WriteOptions{})

	done := runAsync(context.Background(), p)
	eventually(t, "the entry to wait for room", p.flow.waiting.Load)

	if st := p.Stats(); st.InFlight != 2 || st.InFlightBytes != 200 {
		t.Errorf("in flight = %d messages, %d bytes, want 2 messages of 100 bytes under a limit of 250", st.InFlight, st.InFlightBytes)
	}

	close(open)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, b := range log.get() {
		if len(b) > 2 {
			t.Errorf("batch %v: more than the 2 messages that fit in flight", b)
		}
	}
	for id, s := range rec.exactlyOnce(t, 10) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
}

func TestMessageLargerThanByteLimitPassesAlone(t *testing.T) {
	rec := newRecorder()
	msgs := []Msg[int]{rec.msg(0, 10), rec.msg(1, 500), rec.msg(2, 10)}
	var log batchLog
	p := writePipeline(clock.NewFake(time.Time{}), msgs, BatchOptions{}, recordingWriter(&log, nil), WriteOptions{}, func(o *Options) {
		o.MaxInFlightBytes = 100
	})

	if err := wait(t, runAsync(context.Background(), p)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	rec.exactlyOnce(t, 3)
	if v := log.values(); len(v) != 3 {
		t.Errorf("written = %v, want all three messages", v)
	}
}
