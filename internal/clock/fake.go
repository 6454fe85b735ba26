package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when a test calls Advance or Set.
// It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

// NewFake returns a fake clock set to start. A zero start means
// 2026-01-01T00:00:00Z, so that times in test output are easy to read.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: start, changed: make(chan struct{})}
}

type fakeWaiter struct {
	clock    *Fake
	deadline time.Time
	period   time.Duration // 0 for a timer
	ch       chan time.Time
	active   bool
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns the fake time elapsed since t.
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{clock: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	f.schedule(w, d)
	f.mu.Unlock()
	return (*fakeTimer)(w)
}

// NewTicker returns a ticker that fires each time the fake time passes
// another multiple of d.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{clock: f, ch: make(chan time.Time, 1), period: d}
	f.mu.Lock()
	f.schedule(w, d)
	f.mu.Unlock()
	return (*fakeTicker)(w)
}

// Advance moves the fake time forward by d and fires every timer and
// ticker whose deadline has been reached, in deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.setLocked(f.now.Add(d))
	f.mu.Unlock()
}

// Set moves the fake time to t, which must not be before the current fake
// time, and fires what is due.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.setLocked(t)
	f.mu.Unlock()
}

// Waiters returns the number of active timers and tickers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil waits until at least n timers or tickers are active, or ctx
// is done. Tests call it to know that the code under test has reached the
// point where it waits, before they advance the clock.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		count, changed := len(f.waiters), f.changed
		f.mu.Unlock()
		if count >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextDeadline returns the earliest deadline among the active timers and
// tickers, and false if there is none.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		return time.Time{}, false
	}
	return f.waiters[0].deadline, true
}

// Deadlines returns the deadlines of the active timers and tickers, the
// earliest first.
func (f *Fake) Deadlines() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, len(f.waiters))
	for i, w := range f.waiters {
		out[i] = w.deadline
	}
	return out
}

func (f *Fake) setLocked(t time.Time) {
	if t.Before(f.now) {
		panic("clock: Fake time cannot move backwards")
	}
	for len(f.waiters) > 0 && !f.waiters[0].deadline.After(t) {
		w := f.waiters[0]
		f.now = w.deadline
		select {
		case w.ch <- w.deadline:
		default:
		}
		if w.period > 0 {
			w.deadline = w.deadline.Add(w.period)
			f.sortLocked()
		} else {
			f.removeLocked(w)
		}
	}
	f.now = t
}

func (f *Fake) schedule(w *fakeWaiter, d time.Duration) {
	if w.active {
		f.removeLocked(w)
	}
	w.deadline = f.now.Add(d)
	if d <= 0 && w.period == 0 {
		select {
		case w.ch <- f.now:
		default:
		}
		return
	}
	w.active = true
	f.waiters = append(f.waiters, w)
	f.sortLocked()
	f.notifyLocked()
}

func (f *Fake) removeLocked(w *fakeWaiter) bool {
	for i, other := range f.waiters {
		if other == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			w.active = false
			f.notifyLocked()
			return true
		}
	}
	return false
}

func (f *Fake) sortLocked() {
	sort.SliceStable(f.waiters, func(i, j int) bool {
		return f.waiters[i].deadline.Before(f.waiters[j].deadline)
	})
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (w *fakeWaiter) drain() {
	select {
	case <-w.ch:
	default:
	}
}

type fakeTimer fakeWaiter

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	w := (*fakeWaiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	w.drain()
	return w.clock.removeLocked(w)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	w := (*fakeWaiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	wasActive := w.active
	w.drain()
	w.clock.schedule(w, d)
	return wasActive
}

type fakeTicker fakeWaiter

func (t *fakeTicker) C() <-chan time.Time { return t.ch }

func (t *fakeTicker) Stop() {
	w := (*fakeWaiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	w.clock.removeLocked(w)
}

func (t *fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	w := (*fakeWaiter)(t)
	w.clock.mu.Lock()
	defer w.clock.mu.Unlock()
	w.period = d
	w.clock.schedule(w, d)
}
