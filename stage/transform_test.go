package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestFilteredMessageIsAcked(t *testing.T) {
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(10, 1)}))
	even := Then(src, "even", Filter(func(v int) bool { return v%2 == 0 }))
	var log batchLog
	Write(Batch(even, "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := rec.exactlyOnce(t, 10)
	for id, s := range got {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
	if w := log.values(); !slices.Equal(w, []int{0, 2, 4, 6, 8}) {
		t.Errorf("written = %v, want the even messages only", w)
	}
	if st := p.Stats(); st.Acked != 10 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 10 acked and none in flight", st)
	}
}

func TestMapErrorSettlesByClass(t *testing.T) {
	rec := newRecorder()
	fatalOnce := true
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(5, 1)}))
	decoded := Then(src, "decode", Map(func(_ context.Context, v int) (string, error) {
		switch v {
		case 1:
			return "", errors.New("bad payload")
		case 2:
			return "", Redeliver(2*time.Second, errors.New("lookup timed out"))
		case 3:
			if fatalOnce {
				fatalOnce = false
				return "", Fatal(errors.New("connection lost"))
			}
		}
		return fmt.Sprint("v", v), nil
	}))
	var mu sync.Mutex
	var written []string
	Write(Batch(decoded, "batch", BatchOptions{}), "write", WriterFunc[string](func(_ context.Context, b []Msg[string]) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			written = append(written, m.Value)
		}
		return nil
	}), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := rec.exactlyOnce(t, 5)
	want := []settlement{
		{kind: "ack"},
		{kind: "dead-letter", reason: "stage decode: bad payload"},
		{kind: "nack", delay: 2 * time.Second, reason: "stage decode: lookup timed out"},
		{kind: "ack"},
		{kind: "ack"},
	}
	for id := range want {
		if got[id] != want[id] {
			t.Errorf("message %d: settled %+v, want %+v", id, got[id], want[id])
		}
	}
	if !slices.Equal(written, []string{"v0", "v3", "v4"}) {
		t.Errorf("written = %v, want [v0 v3 v4]: message 3 retried after the fatal error", written)
	}
}

func TestPanicInMapNacksMessageAndGoesOn(t *testing.T) {
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(6, 1)}))
	mapped := Then(src, "explode", Map(func(_ context.Context, v int) (int, error) {
		if v == 3 {
			panic("boom")
		}
		return v, nil
	}))
	var log batchLog
	Write(Batch(mapped, "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := rec.exactlyOnce(t, 6)
	for id, s := range got {
		switch {
		case id == 3 && (s.kind != "nack" || !strings.Contains(s.reason, "boom")):
			t.Errorf("message 3: settled %+v, want a nack naming the panic", s)
		case id != 3 && s.kind != "ack":
			t.Errorf("message %d: settled %+v, want ack", id, s)
		}
	}
	if w := log.values(); !slices.Equal(w, []int{0, 1, 2, 4, 5}) {
		t.Errorf("written = %v, want every message but the one that panicked", w)
	}
}

// part is a value of a message split by FlatMap: the id of the message and
// the index of the part.
type part struct{ id, index int }

func TestFanOutSettlesParentOnceAllPartsSettle(t *testing.T) {
	tests := []struct {
		name string
		// drop lists the parts the filter drops; fail the parts the writer
		// reports failed, with their errors.
		drop map[int]bool
		fail map[int]error
		want settlement
	}{
		{"every part written", nil, nil, settlement{kind: "ack"}},
		{"parts filtered or written", map[int]bool{0: true, 2: true}, nil, settlement{kind: "ack"}},
		{"one part nacked", map[int]bool{0: true}, map[int]error{1: Redeliver(time.Second, errors.New("busy"))},
			settlement{kind: "nack", delay: time.Second, reason: "busy"}},
		{"one part dead-lettered", nil, map[int]error{2: Permanent(errors.New("too large"))},
			settlement{kind: "dead-letter", reason: "too large"}},
		{"nack wins over dead letter", nil, map[int]error{1: Permanent(errors.New("too large")), 2: Redeliver(0, errors.New("busy"))},
			settlement{kind: "nack", reason: "busy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
			src := From(p, "source", Source[int](&sliceSource[int]{msgs: []Msg[int]{rec.msg(0, 30)}}))
			parts := Then(src, "split", FlatMap(func(_ context.Context, id int) ([]part, error) {
				return []part{{id, 0}, {id, 1}, {id, 2}}, nil
			}))
			kept := Then(parts, "filter", Filter(func(v part) bool { return !tt.drop[v.index] }))
			var sizes []int
			Write(Batch(kept, "batch", BatchOptions{}), "write", WriterFunc[part](func(_ context.Context, b []Msg[part]) error {
				if rec.of(0) != nil {
					t.Error("parent settled before its parts were written")
				}
				var be BatchError
				for i, m := range b {
					sizes = append(sizes, m.Size())
					if err, ok := tt.fail[m.Value.index]; ok {
						be.Failed = append(be.Failed, Failure{Index: i, Err: err})
					}
				}
				if len(be.Failed) > 0 {
					return &be
				}
				return nil
			}), WriteOptions{})

			if err := p.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}

			got := rec.exactlyOnce(t, 1)
			if got[0] != tt.want {
				t.Errorf("parent settled %+v, want %+v", got[0], tt.want)
			}
			for _, s := range sizes {
				if s != 10 {
					t.Errorf("part size = %d, want a third of 30", s)
				}
			}
			if st := p.Stats(); st.InFlight != 0 || st.Duplicates != 0 {
				t.Errorf("stats = %+v, want nothing in flight and no duplicates", st)
			}
		})
	}
}

func TestFlatMapWithoutValuesAcks(t *testing.T) {
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), nil))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(4, 1)}))
	out := Then(src, "explode", FlatMap(func(_ context.Context, v int) ([]int, error) {
		return slices.Repeat([]int{v}, v%2), nil // odd messages pass, even ones vanish
	}))
	var log batchLog
	Write(Batch(out, "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, s := range rec.exactlyOnce(t, 4) {
		if s.kind != "ack" {
			t.Errorf("message %d: settled %q, want ack", id, s.kind)
		}
	}
	if w := log.values(); !slices.Equal(w, []int{1, 3}) {
		t.Errorf("written = %v, want [1 3]", w)
	}
}
