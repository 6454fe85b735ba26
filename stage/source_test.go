package stage

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

func TestSourceInvalidCountNacksItsMessages(t *testing.T) {
	rec := newRecorder()
	var events eventCounter
	calls := 0
	src := SourceFunc[int](func(_ context.Context, buf []Msg[int]) (int, error) {
		calls++
		if calls > 1 {
			return 0, io.EOF
		}
		buf[0], buf[1] = rec.msg(0, 1), rec.msg(1, 1)
		return len(buf) + 1, nil // a bug: more than the buffer holds
	})
	var log batchLog
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) {
		o.Supervisor = append(o.Supervisor, supervisor.WithHook(events.hook))
	}))
	Write(Batch(From(p, "source", Source[int](src)), "batch", BatchOptions{}), "write", recordingWriter(&log, nil), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, s := range rec.exactlyOnce(t, 2) {
		if s.kind != "nack" || !strings.Contains(s.reason, "invalid message count") {
			t.Errorf("message %d: settled %+v, want a nack naming the invalid count", id, s)
		}
	}
	if got := log.values(); len(got) != 0 {
		t.Errorf("written = %v, want nothing", got)
	}
	eventually(t, "the entry's failure to be reported", func() bool { return events.count("child_failed p/source") == 1 })
	if st := p.Stats(); st.InFlight != 0 || st.Nacked != 0 {
		t.Errorf("stats = %+v, want nothing in flight and no nack counted: the messages were never admitted", st)
	}
}
