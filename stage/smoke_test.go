package stage

import (
	"context"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func TestSmoke(t *testing.T) {
	rec := newRecorder()
	clk := clock.NewFake(time.Time{})
	p := New("p", testOptions(clk, nil))
	src := From(p, "src", Source[int](&sliceSource[int]{msgs: rec.msgs(1000, 1)}))
	dbl := Then(src, "double", Map(func(_ context.Context, v int) (int, error) { return v * 2, nil }))
	even := Then(dbl, "keep", Filter(func(v int) bool { return v%4 == 0 }))
	var log batchLog
	Write(Batch(even, "batch", BatchOptions{MaxCount: 100}), "write", WriterFunc[int](func(_ context.Context, b []Msg[int]) error {
		log.add(b)
		return nil
	}), WriteOptions{})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.exactlyOnce(t, 1000)
	t.Logf("stats %+v batches %d", p.Stats(), len(log.get()))
}
