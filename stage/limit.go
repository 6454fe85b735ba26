package stage

import (
	"context"
	"sync/atomic"
)

// flowState holds the in-flight limits and the settlement counters that a
// pipeline shares with the trackers of the messages it admitted.
//
// Messages are admitted by the entry stage alone, and released from any
// stage that settles them, so only the entry ever waits for room.
type flowState struct {
	maxMsgs  int64
	maxBytes int64

	msgs  atomic.Int64
	bytes atomic.Int64

	// waiting is set while the entry waits for room, so that release
	// wakes it only then; wake holds at most one pending wake-up.
	waiting atomic.Bool
	wake    chan struct{}

	// observer is the pipeline's observer of settlements, nil without one.
	observer *Observer

	acked        atomic.Uint64
	nacked       atomic.Uint64
	deadLettered atomic.Uint64
	duplicates   atomic.Uint64
}

func newFlowState(maxMsgs, maxBytes int64, obs *Observer) *flowState {
	f := &flowState{maxMsgs: maxMsgs, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
	if obs != nil && obs.Settled != nil {
		f.observer = obs
	}
	return f
}

// newTally returns a tally of the settlements stage makes for the pipeline
// of flow, which may be nil.
func newTally(flow *flowState, stage string) tally {
	tl := tally{flow: flow, stage: stage}
	if flow != nil {
		tl.obs = flow.observer
	}
	return tl
}

// admit counts n messages of the given total size as in flight.
func (f *flowState) admit(n, bytes int64) {
	f.msgs.Add(n)
	f.bytes.Add(bytes)
}

// release takes n settled messages of the given total size out of flight
// and wakes the entry if it waits for room.
func (f *flowState) release(n, bytes int64) {
	f.msgs.Add(-n)
	f.bytes.Add(-bytes)
	if f.waiting.Load() {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// room returns how many more messages may be admitted now, 0 when the
// message or the byte limit is reached.
func (f *flowState) room() int64 {
	if f.bytes.Load() >= f.maxBytes {
		return 0
	}
	return max(f.maxMsgs-f.msgs.Load(), 0)
}

// fits reports whether a message of size bytes may be admitted now: it
// fits under the byte limit, or nothing else is in flight, so that a
// message larger than the limit still passes, alone.
func (f *flowState) fits(size int64) bool {
	inFlight := f.bytes.Load()
	return inFlight == 0 || inFlight+size <= f.maxBytes
}

// waitUntil blocks until ok returns true, and returns nil, or until ctx or
// stop is done, and returns ctx's error or errStopped. Only the entry
// calls it.
func (f *flowState) waitUntil(ctx context.Context, stop <-chan struct{}, ok func() bool) error {
	if ok() {
		return nil
	}
	f.waiting.Store(true)
	defer f.waiting.Store(false)
	for {
		// Check again after announcing the wait, so that a release that
		// came before the announcement is not missed.
		if ok() {
			return nil
		}
		select {
		case <-f.wake:
		case <-stop:
			return errStopped
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
