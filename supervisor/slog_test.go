package supervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestSlogHookLogsEventFields(t *testing.T) {
	tests := []struct {
		event Event
		level string
		attrs map[string]any
	}{
		{
			ChildFailed{ChildPath: "root/sink/write", Err: errors.New("write batch: timeout"), Ran: time.Second},
			"ERROR",
			map[string]any{"path": "root/sink/write", "err": "write batch: timeout", "ran": float64(time.Second)},
		},
		{
			ChildRestarting{ChildPath: "root/a", Delay: 200 * time.Millisecond, Attempt: 2},
			"WARN",
			map[string]any{"path": "root/a", "delay": float64(200 * time.Millisecond), "attempt": float64(2)},
		},
		{
			ChildPanicked{ChildPath: "root/a", PanicValue: "bad", Stack: []byte("goroutine 7")},
			"ERROR",
			map[string]any{"path": "root/a", "panic": "bad", "stack": "goroutine 7"},
		},
		{
			StopTimedOut{ChildPath: "root/sink/write", Timeout: 5 * time.Second},
			"ERROR",
			map[string]any{"path": "root/sink/write", "timeout": float64(5 * time.Second)},
		},
		{
			ChildStarted{ChildPath: "root/a"},
			"INFO",
			map[string]any{"path": "root/a", "restarts": float64(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.event.Type().String(), func(t *testing.T) {
			var buf bytes.Buffer
			SlogHook(slog.New(slog.NewJSONHandler(&buf, nil)))(tt.event)

			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log output %q is not one JSON record: %v", buf.String(), err)
			}
			if rec["level"] != tt.level {
				t.Errorf("level = %v, want %s", rec["level"], tt.level)
			}
			for k, want := range tt.attrs {
				if rec[k] != want {
					t.Errorf("%s = %v, want %v", k, rec[k], want)
				}
			}
			if _, ok := rec["err"]; ok && tt.attrs["err"] == nil {
				t.Errorf("record has err %v, want none for a nil error", rec["err"])
			}
		})
	}
}

func TestEventStringNamesPath(t *testing.T) {
	events := []Event{
		ChildStarted{ChildPath: "root/x"},
		ChildExited{ChildPath: "root/x"},
		ChildStopped{ChildPath: "root/x", Cause: ErrShutdown},
		ChildFailed{ChildPath: "root/x", Err: errBoom},
		ChildPanicked{ChildPath: "root/x", PanicValue: 1},
		ChildRestarting{ChildPath: "root/x"},
		StopTimedOut{ChildPath: "root/x"},
		GaveUp{ChildPath: "root/x", Err: errBoom},
		AutoShutdownStarted{ChildPath: "root/x", Trigger: "root/x/y"},
		EventsDropped{ChildPath: "root/x", Count: 3},
	}
	seen := map[EventType]bool{}
	for _, e := range events {
		if s := e.String(); !bytes.Contains([]byte(s), []byte("root/x")) {
			t.Errorf("%T.String() = %q, want the path in it", e, s)
		}
		if e.Path() != "root/x" {
			t.Errorf("%T.Path() = %q, want root/x", e, e.Path())
		}
		if seen[e.Type()] {
			t.Errorf("%T shares its Type %v with another event", e, e.Type())
		}
		seen[e.Type()] = true
	}
}
