package otel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

func TestSupervisorHookCountsEventsPerPath(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	hook := rig.inst.SupervisorHook()
	fail := errors.New("connection refused")

	events := []supervisor.Event{
		supervisor.ChildStarted{ChildPath: "sink/write"},
		supervisor.ChildFailed{ChildPath: "sink/write", Err: fail},
		supervisor.ChildRestarting{ChildPath: "sink/write", Err: fail, Attempt: 1},
		supervisor.ChildStarted{ChildPath: "sink/write", Restarts: 1},
		supervisor.ChildStopped{ChildPath: "sink/ack", Cause: supervisor.ErrSiblingFailed},
		supervisor.ChildStarted{ChildPath: "sink/ack", Restarts: 1},
		supervisor.ChildPanicked{ChildPath: "sink/write", PanicValue: "boom"},
		supervisor.ChildStarted{ChildPath: "sink/write", Restarts: 2},
		supervisor.GaveUp{ChildPath: "sink", MaxRestarts: 3, Period: time.Minute},
		supervisor.EventsDropped{ChildPath: "sink", Count: 4},
	}
	for _, e := range events {
		hook(e)
	}

	rm := rig.collect(t)
	path := otel.AttrChildPath.String
	tests := []struct {
		metric, path string
		want         int64
	}{
		{otel.MetricSupervisorRestarts, "sink/write", 2},
		{otel.MetricSupervisorRestarts, "sink/ack", 1},
		{otel.MetricSupervisorFailures, "sink/write", 1},
		{otel.MetricSupervisorPanics, "sink/write", 1},
		{otel.MetricSupervisorGiveUps, "sink", 1},
		{otel.MetricSupervisorEventsDropped, "sink", 4},
		{otel.MetricSupervisorFailures, "sink/ack", 0},
	}
	for _, tt := range tests {
		if got := sum(t, rm, tt.metric, path(tt.path)); got != tt.want {
			t.Errorf("%s{%s} = %d, want %d", tt.metric, tt.path, got, tt.want)
		}
	}
}

func TestSupervisorHookCountsRealTree(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	gaveUp := make(chan struct{})
	sup := supervisor.New("root",
		supervisor.WithHook(rig.inst.SupervisorHook()),
		supervisor.WithHook(func(e supervisor.Event) {
			// Hooks run in order, one event at a time, so once this one
			// sees GaveUp the metrics hook has seen every event before it.
			if e.Type() == supervisor.EventGaveUp {
				close(gaveUp)
			}
		}),
		supervisor.WithBackoff(supervisor.Backoff{Initial: -1}),
		supervisor.WithIntensity(2, time.Hour))

	runs := 0
	err := sup.Add(supervisor.Spec{Name: "write", Child: supervisor.ChildFunc(func(ctx context.Context) error {
		runs++
		if runs == 2 {
			panic("nil map")
		}
		return errors.New("write failed")
	})})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Run(context.Background()); !errors.Is(err, supervisor.ErrIntensity) {
		t.Fatalf("Run = %v, want ErrIntensity", err)
	}
	select {
	case <-gaveUp:
	case <-time.After(10 * time.Second):
		t.Fatal("GaveUp never reached the hooks")
	}

	rm := rig.collect(t)
	path := otel.AttrChildPath.String
	if got := sum(t, rm, otel.MetricSupervisorFailures, path("root/write")); got != 2 {
		t.Errorf("failures = %d, want 2 (runs 1 and 3)", got)
	}
	if got := sum(t, rm, otel.MetricSupervisorPanics, path("root/write")); got != 1 {
		t.Errorf("panics = %d, want 1 (run 2)", got)
	}
	if got := sum(t, rm, otel.MetricSupervisorRestarts, path("root/write")); got != 2 {
		t.Errorf("restarts = %d, want 2 (the intensity allows two)", got)
	}
	if got := sum(t, rm, otel.MetricSupervisorGiveUps, path("root")); got != 1 {
		t.Errorf("give-ups = %d, want 1", got)
	}
}

func TestSupervisorHookOfNilInstrumentationDoesNotPanic(t *testing.T) {
	var inst *otel.Instrumentation
	hook := inst.SupervisorHook()
	hook(supervisor.ChildFailed{ChildPath: "root/x", Err: errors.New("x")}) // must not panic
}

func TestSupervisorHookCountsPipelineRestarts(t *testing.T) {
	rig := newMetricsRig(t, otel.Options{})
	restarted := make(chan string, 8)
	p := stage.New("sink", stage.Options{
		Observer: rig.inst.StageObserver(),
		Supervisor: []supervisor.Option{
			supervisor.WithHook(rig.inst.SupervisorHook()),
			supervisor.WithHook(func(e supervisor.Event) {
				if s, ok := e.(supervisor.ChildStarted); ok && s.Restarts > 0 {
					restarted <- s.ChildPath
				}
			}),
			supervisor.WithBackoff(supervisor.Backoff{Initial: -1}),
		},
	})
	calls := 0
	src := stage.From(p, "consume", countSource(3))
	stage.Write(stage.Batch(src, "batch", stage.BatchOptions{MaxCount: 3}), "write",
		stage.WriterFunc[int](func(_ context.Context, batch []stage.Msg[int]) error {
			calls++
			if calls == 1 {
				return stage.Fatal(errors.New("connection lost"))
			}
			return nil
		}), stage.WriteOptions{})
	if err := p.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Rest-for-one restarts the write stage and the ack stage after it.
	seen := map[string]bool{}
	for !seen["sink/write"] || !seen["sink/ack"] {
		select {
		case path := <-restarted:
			seen[path] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("restarts seen: %v, want sink/write and sink/ack", seen)
		}
	}

	rm := rig.collect(t)
	path := otel.AttrChildPath.String
	for _, child := range []string{"sink/write", "sink/ack"} {
		if got := sum(t, rm, otel.MetricSupervisorRestarts, path(child)); got != 1 {
			t.Errorf("restarts of %s = %d, want 1", child, got)
		}
	}
	if got := sum(t, rm, otel.MetricSupervisorFailures, path("sink/write")); got != 1 {
		t.Errorf("failures of sink/write = %d, want 1", got)
	}
	fatal := semconv.ErrorTypeKey.String(string(otel.ClassFatal))
	if got := sum(t, rm, otel.MetricMessagesFailed, otel.AttrStage.String("write"), fatal); got != 3 {
		t.Errorf("fatal failures = %d, want 3 (the batch)", got)
	}
	if got := sum(t, rm, otel.MetricMessagesSettled, semconv.MessagingOperationName(otel.OperationAck)); got != 3 {
		t.Errorf("acked = %d, want 3: the restarted stage wrote the batch again", got)
	}
}
