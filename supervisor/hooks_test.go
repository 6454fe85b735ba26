package supervisor

import (
	"testing"
	"time"
)

func TestBlockedHookDelaysNeitherRestartsNorShutdown(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	blocked := func(Event) { <-release }

	s := New("root", WithHook(blocked), WithEventBuffer(4), WithBackoff(noBackoff), WithIntensity(100, time.Hour))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	for i := range 20 {
		c.next(t).fail(t, errNumbered(i))
	}
	c.next(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if n := s.DroppedEvents(); n == 0 {
		t.Error("DroppedEvents() = 0, want the events that did not fit the queue counted")
	}
}

func TestDroppedEventsReportedOnceQueueDrains(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder()
	gate := func(e Event) {
		<-release
		rec.hook(e)
	}
	s := New("root", WithHook(gate), WithEventBuffer(2), WithBackoff(noBackoff), WithIntensity(100, time.Hour))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	for range 5 {
		c.next(t).fail(t, errBoom)
	}
	c.next(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	dropped := s.DroppedEvents()
	if dropped == 0 {
		t.Fatal("DroppedEvents() = 0, want some: the hook held the queue of 2")
	}

	close(release)
	ev := rec.waitFor(t, EventEventsDropped, "root").(EventsDropped)
	if ev.Count != dropped {
		t.Errorf("EventsDropped.Count = %d, want DroppedEvents() = %d", ev.Count, dropped)
	}
}

func TestPanickingHookDoesNotStopDelivery(t *testing.T) {
	rec := newRecorder()
	faulty := func(Event) { panic("hook bug") }
	s := New("root", WithHook(faulty), WithHook(rec.hook))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	c.next(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	rec.waitFor(t, EventChildStarted, "root/c")
	rec.waitFor(t, EventChildStopped, "root/c")
}
