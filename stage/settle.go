package stage

import (
	"sync"
	"sync/atomic"
	"time"
)

// Settler receives the settlement of one message on behalf of the source
// that created it, usually by consuming it from the broker. For every
// message that enters a pipeline exactly one of the three methods is
// called, exactly once, unless a stage stuck in user code never returns
// (see DrainError.Unsettled).
//
// The methods are called from the goroutine of the stage that settles the
// message: usually the pipeline's ack stage, which runs after the write
// stage, but also a filter that drops the message, the stage that
// dead-letters it, or the pipeline itself when a forced drain nacks it.
// They must not block: a settler that talks to a broker queues the
// acknowledgement and sends it from a goroutine of its own. A settler whose
// methods block slows every stage that settles messages, and a settler that
// never returns makes a forced drain miss its deadline.
type Settler interface {
	// Ack reports that the message was processed: written to its target,
	// or deliberately dropped by a filter.
	Ack()
	// Nack reports that the message was not processed and should be
	// delivered again after delay. Reason explains why, for logs.
	Nack(delay time.Duration, reason string)
	// DeadLetter reports that the message can never be processed and
	// should go to the dead-letter target. Reason explains why and travels
	// with the message.
	DeadLetter(reason string)
}

// Tracker holds the settlement state of one message: whether it has been
// settled, its size, its Settler, and the pipeline that admitted it.
// Copies of a Msg share one Tracker, which is what makes settlement
// happen once whichever copy settles.
//
// NewMsg allocates a Tracker (one allocation of 32 bytes per message).
// A source that allocates a struct per message anyway can embed a Tracker
// in it and pass it to Attach, which saves that allocation. The zero value
// is ready for Attach. A Tracker serves one message, and must not be copied
// after it was attached.
type Tracker struct {
	state atomic.Uint32 // trackerPending or trackerSettled
	size  int32
	// settler is the source's Settler, or for a part of a message that
	// FlatMap split, the *fanout that joins the parts.
	settler Settler
	flow    *flowState // the pipeline that admitted the message, nil before
}

const (
	trackerPending uint32 = iota
	trackerSettled
)

// verdictKind is the kind of a settlement. The order matters: a message
// split into parts takes the highest kind among its parts.
type verdictKind uint8

const (
	verdictAck verdictKind = iota
	verdictDeadLetter
	verdictNack
)

// verdict is a settlement: its kind, and for a nack the delay and reason,
// for a dead letter the reason.
type verdict struct {
	kind   verdictKind
	delay  time.Duration
	reason string
}

var ackVerdict = verdict{kind: verdictAck}

func nackVerdict(delay time.Duration, reason string) verdict {
	return verdict{kind: verdictNack, delay: delay, reason: reason}
}

func deadLetterVerdict(reason string) verdict {
	return verdict{kind: verdictDeadLetter, reason: reason}
}

// fanout joins the parts of a message that FlatMap split: the parent is
// settled when the last part is, with the aggregate of their verdicts. It
// is the settler of every part; finish recognises it and never calls its
// Settler methods.
type fanout struct {
	parent *Tracker

	mu      sync.Mutex
	pending int
	worst   verdict
}

func (*fanout) Ack()                       {}
func (*fanout) Nack(time.Duration, string) {}
func (*fanout) DeadLetter(string)          {}

// combine folds the verdict of one part into the aggregate of the parts
// settled before it. Every part acked gives an ack. Any part nacked gives a
// nack, with the longest delay requested and the reason that came with it.
// Otherwise any part dead-lettered gives a dead letter, with the reason of
// the first part dead-lettered.
func combine(acc, v verdict) verdict {
	switch {
	case v.kind > acc.kind:
		return v
	case v.kind == verdictNack && acc.kind == verdictNack && v.delay > acc.delay:
		return v
	}
	return acc
}

// split makes n trackers for the parts of t's message. Each part's size is
// an equal share of t's size, for batch limits; the in-flight limit keeps
// counting t's size until t is settled.
func (t *Tracker) split(n int) []Tracker {
	parts := make([]Tracker, n)
	f := &fanout{parent: t, pending: n}
	share, rest := t.size/int32(n), t.size%int32(n)
	for i := range parts {
		parts[i].settler = f
		parts[i].flow = t.flow
		parts[i].size = share
	}
	parts[0].size += rest
	return parts
}

// settle records v as the settlement of t unless t was settled already,
// and reports whether it did. A second settlement is counted in tl as a
// duplicate and otherwise ignored.
func (t *Tracker) settle(v verdict, tl *tally) bool {
	if !t.state.CompareAndSwap(trackerPending, trackerSettled) {
		tl.duplicate(t)
		return false
	}
	t.finish(v, tl)
	return true
}

// settleIfPending is settle for the pipeline's own clean-up after a forced
// stop: a message settled already is what clean-up expects, not a
// duplicate.
func (t *Tracker) settleIfPending(v verdict, tl *tally) bool {
	if !t.state.CompareAndSwap(trackerPending, trackerSettled) {
		return false
	}
	t.finish(v, tl)
	return true
}

// finish delivers the settlement of t, which the caller has just marked
// settled: to the Settler for a whole message, or to the parent for a part,
// settling the parent in turn when this was its last part.
func (t *Tracker) finish(v verdict, tl *tally) {
	for {
		f, ok := t.settler.(*fanout)
		if !ok {
			break
		}
		f.mu.Lock()
		f.worst = combine(f.worst, v)
		f.pending--
		last, agg := f.pending == 0, f.worst
		f.mu.Unlock()
		if !last {
			return
		}

		// A parent settled directly, by a forced drain, ignores its parts.
		t, v = f.parent, agg
		if !t.state.CompareAndSwap(trackerPending, trackerSettled) {
			return
		}
	}

	// Read everything needed before calling the settler: a source that
	// embeds the tracker may reuse it as soon as the settler returns.
	s, size, flow := t.settler, t.size, t.flow
	tl.settled(flow, v.kind, size)
	if s == nil {
		return
	}
	switch v.kind {
	case verdictAck:
		s.Ack()
	case verdictNack:
		s.Nack(v.delay, v.reason)
	case verdictDeadLetter:
		s.DeadLetter(v.reason)
	}
}

// tally gathers the counts of the settlements one stage makes, so that the
// pipeline's shared counters are updated once per chunk rather than once
// per message.
type tally struct {
	flow  *flowState
	stage string    // for the observer
	obs   *Observer // nil without an observer of settlements

	msgs, bytes                 int64
	acked, nacked, deadLettered uint64
	duplicates                  uint64
}

// settled counts one settled message of flow, of the given kind and size.
func (tl *tally) settled(flow *flowState, kind verdictKind, size int32) {
	if flow == nil {
		return // never admitted: nothing to release or count
	}
	if flow != tl.flow {
		// A message of another pipeline, or a tally without one: count it
		// at once where it belongs.
		one := tally{flow: flow, obs: flow.observer}
		one.settled(flow, kind, size)
		one.flush()
		return
	}
	tl.msgs++
	tl.bytes += int64(size)
	switch kind {
	case verdictAck:
		tl.acked++
	case verdictNack:
		tl.nacked++
	case verdictDeadLetter:
		tl.deadLettered++
	}
}

// duplicate counts a settlement of t that was ignored.
func (tl *tally) duplicate(t *Tracker) {
	switch {
	case t.flow == nil:
	case t.flow == tl.flow:
		tl.duplicates++
	default:
		t.flow.duplicates.Add(1)
	}
}

// flush adds the gathered counts to the pipeline's counters and releases
// the settled messages from the in-flight limits.
func (tl *tally) flush() {
	f := tl.flow
	if f == nil {
		return
	}
	if tl.msgs > 0 {
		f.release(tl.msgs, tl.bytes)
	}
	if tl.acked > 0 {
		f.acked.Add(tl.acked)
	}
	if tl.nacked > 0 {
		f.nacked.Add(tl.nacked)
	}
	if tl.deadLettered > 0 {
		f.deadLettered.Add(tl.deadLettered)
	}
	if tl.duplicates > 0 {
		f.duplicates.Add(tl.duplicates)
	}
	if tl.obs != nil && tl.msgs > 0 {
		tl.obs.Settled(tl.stage, int(tl.acked), int(tl.nacked), int(tl.deadLettered))
	}
	tl.msgs, tl.bytes = 0, 0
	tl.acked, tl.nacked, tl.deadLettered, tl.duplicates = 0, 0, 0, 0
}
