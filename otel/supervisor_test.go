package otel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/otel"
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
