package stage

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// retryCall is one call of Observer.Retrying.
type retryCall struct{ messages, attempt int }

func TestObserverSeesRetriesNotGivingUp(t *testing.T) {
	failAll := errors.New("target unavailable")
	tests := []struct {
		name    string
		max     int
		results []error // by call; nil once they run out
		want    []retryCall
		writes  int
	}{
		{"no failure", 3, nil, nil, 1},
		{"two failures then success", 5, []error{failAll, failAll}, []retryCall{{4, 2}, {4, 3}}, 3},
		{"partial failure retries the rest", 5, []error{&BatchError{Failed: []Failure{{Index: 2, Err: failAll}}}}, []retryCall{{1, 2}}, 2},
		{"giving up is no retry", 2, []error{failAll, failAll, failAll}, []retryCall{{4, 2}}, 2},
		{"redeliver is no retry", 5, []error{Redeliver(0, failAll)}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []retryCall
			obs := Observer{Retrying: func(stage string, messages, attempt int) {
				if stage != "write" {
					t.Errorf("Retrying for stage %q, want write", stage)
				}
				mu.Lock()
				got = append(got, retryCall{messages, attempt})
				mu.Unlock()
			}}
			var log batchLog
			w := recordingWriter(&log, func(call int, _ []Msg[int]) error {
				if call <= len(tt.results) {
					return tt.results[call-1]
				}
				return nil
			})
			rec := newRecorder()
			p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(4, 1), BatchOptions{}, w,
				WriteOptions{Retry: RetryPolicy{MaxAttempts: tt.max, Initial: -1}}, func(o *Options) { o.Observer = obs })

			if err := p.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			rec.exactlyOnce(t, 4)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Retrying calls = %v, want %v", got, tt.want)
			}
			if n := len(log.get()); n != tt.writes {
				t.Errorf("%d writes, want %d", n, tt.writes)
			}
		})
	}
}

func TestObserverSeesRetryAfterRestart(t *testing.T) {
	var mu sync.Mutex
	var got []retryCall
	obs := Observer{Retrying: func(_ string, messages, attempt int) {
		mu.Lock()
		got = append(got, retryCall{messages, attempt})
		mu.Unlock()
	}}
	w := &openingWriter{} // fails its first write with a Fatal error
	rec := newRecorder()
	p := writePipeline(clock.NewFake(time.Time{}), rec.msgs(3, 1), BatchOptions{}, w, WriteOptions{}, func(o *Options) { o.Observer = obs })

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []retryCall{{3, 2}}; !slices.Equal(got, want) {
		t.Errorf("Retrying calls = %v, want %v: the restarted stage writes the batch a second time", got, want)
	}
}

// failedCall is one call of Observer.Failed.
type failedCall struct {
	messages                    int
	fatal, permanent, redeliver bool
	panicked                    bool
	text                        string
}

func TestObserverSeesTransformFailures(t *testing.T) {
	var mu sync.Mutex
	var got []failedCall
	obs := Observer{Failed: func(stage string, messages int, err error) {
		if stage != "decode" {
			t.Errorf("Failed for stage %q, want decode", stage)
		}
		var pe *supervisor.PanicError
		mu.Lock()
		got = append(got, failedCall{
			messages:  messages,
			fatal:     IsFatal(err),
			permanent: IsPermanent(err),
			redeliver: IsRedeliver(err),
			panicked:  errors.As(err, &pe),
			text:      errors.Unwrap(err).Error(),
		})
		mu.Unlock()
	}}

	fatalOnce, panicOnce := true, true
	rec := newRecorder()
	p := New("p", testOptions(clock.NewFake(time.Time{}), func(o *Options) {
		o.Observer = obs
		o.ChunkSize = 8 // one chunk
	}))
	src := From(p, "source", Source[int](&sliceSource[int]{msgs: rec.msgs(8, 1)}))
	decoded := Then(src, "decode", Map(func(_ context.Context, v int) (int, error) {
		switch v {
		case 1:
			return 0, errors.New("bad payload")
		case 2:
			return 0, Permanent(errors.New("bad schema"))
		case 3:
			return 0, Redeliver(time.Second, errors.New("lookup timed out"))
		case 4:
			return 0, Redeliver(time.Second, errors.New("lookup failed"))
		case 5:
			if fatalOnce {
				fatalOnce = false
				return 0, Fatal(errors.New("connection lost"))
			}
		case 6:
			if panicOnce {
				panicOnce = false
				panic("decoder bug")
			}
		}
		return v, nil
	}))
	Write(Batch(decoded, "batch", BatchOptions{}), "write", WriterFunc[int](func(context.Context, []Msg[int]) error { return nil }), WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := []failedCall{
		// The chunk up to the fatal error: two dead-lettered, two nacked.
		{messages: 2, permanent: true, text: "bad payload"},
		{messages: 2, redeliver: true, text: "lookup timed out"},
		{messages: 1, fatal: true, text: "connection lost"},
		// The restarted stage: message 5 passes, message 6 panics.
		{messages: 1, panicked: true, text: "panic: decoder bug"},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("Failed calls = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Failed call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
