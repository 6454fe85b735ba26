package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeTimerFiresAtDeadline(t *testing.T) {
	f := NewFake(time.Time{})
	timer := f.NewTimer(time.Second)

	f.Advance(999 * time.Millisecond)
	select {
	case <-timer.C():
		t.Fatal("timer fired before its deadline")
	default:
	}

	f.Advance(time.Millisecond)
	select {
	case got := <-timer.C():
		if want := NewFake(time.Time{}).Now().Add(time.Second); !got.Equal(want) {
			t.Errorf("fired with %v, want %v", got, want)
		}
	default:
		t.Fatal("timer did not fire at its deadline")
	}
	if f.Waiters() != 0 {
		t.Errorf("waiters after firing = %d, want 0", f.Waiters())
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := NewFake(time.Time{})
	timer := f.NewTimer(time.Second)

	if !timer.Stop() {
		t.Error("Stop of an active timer returned false")
	}
	f.Advance(2 * time.Second)
	select {
	case <-timer.C():
		t.Fatal("stopped timer fired")
	default:
	}

	if timer.Reset(time.Second) {
		t.Error("Reset of a stopped timer returned true")
	}
	f.Advance(time.Second)
	select {
	case <-timer.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}

func TestFakeTickerFiresEachPeriod(t *testing.T) {
	f := NewFake(time.Time{})
	ticker := f.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()

	for i := 0; i < 3; i++ {
		f.Advance(100 * time.Millisecond)
		select {
		case <-ticker.C():
		default:
			t.Fatalf("tick %d missing", i)
		}
	}
}

func TestFakeAdvanceFiresInDeadlineOrder(t *testing.T) {
	f := NewFake(time.Time{})
	late := f.NewTimer(3 * time.Second)
	early := f.NewTimer(time.Second)
	f.Advance(5 * time.Second)

	e, l := <-early.C(), <-late.C()
	if !e.Before(l) {
		t.Errorf("early fired at %v, late at %v", e, l)
	}
	if got := f.Now(); !got.Equal(l.Add(2 * time.Second)) {
		t.Errorf("Now = %v, want %v", got, l.Add(2*time.Second))
	}
}

func TestFakeBlockUntilSeesNewTimer(t *testing.T) {
	f := NewFake(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	go f.NewTimer(time.Minute)
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("BlockUntil: %v", err)
	}
	if d, ok := f.NextDeadline(); !ok || !d.Equal(f.Now().Add(time.Minute)) {
		t.Errorf("NextDeadline = %v, %v", d, ok)
	}
}

func TestFakeZeroTimerFiresImmediately(t *testing.T) {
	f := NewFake(time.Time{})
	timer := f.NewTimer(0)
	select {
	case <-timer.C():
	default:
		t.Fatal("timer of zero duration did not fire at once")
	}
}

func TestFakeDeadlinesListsActiveTimers(t *testing.T) {
	f := NewFake(time.Time{})
	f.NewTimer(2 * time.Second)
	stopped := f.NewTimer(time.Second)
	f.NewTimer(3 * time.Second)
	stopped.Stop()

	got := f.Deadlines()
	if len(got) != 2 {
		t.Fatalf("Deadlines = %v, want two", got)
	}
	if !got[0].Equal(f.Now().Add(2*time.Second)) || !got[1].Equal(f.Now().Add(3*time.Second)) {
		t.Errorf("Deadlines = %v, want now+2s and now+3s in order", got)
	}
}
