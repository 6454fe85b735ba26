package stage

import (
	"math"
	"time"
)

// Msg is a value travelling through a pipeline together with its
// acknowledgement. Stages copy Msg values freely; all copies share one
// Tracker, so the message is settled once whichever copy settles it.
//
// A message is made by its source with NewMsg or Attach. The zero value,
// or a literal Msg{Value: v}, has no tracker: settling it does nothing,
// and a pipeline gives it a tracker without a Settler when it enters, at
// the cost of one allocation.
//
// Stages made by Map, FlatMap and Filter settle messages for the user, and
// so does the write stage: user code settles a message itself only in a
// source that drops a message before emitting it.
type Msg[T any] struct {
	// Value is the payload, as decoded and transformed so far.
	Value T

	t *Tracker
}

// NewMsg returns a message carrying value, whose settlement goes to s.
// Size is the message's size in bytes, as counted against
// Options.MaxInFlightBytes and BatchOptions.MaxBytes, or 0 if unknown.
// Sizes are kept in 32 bits, so larger ones are clamped. A nil s is allowed for messages that need no acknowledgement.
//
// Cost: one allocation of 32 bytes, the message's Tracker. Attach avoids it.
func NewMsg[T any](value T, size int, s Settler) Msg[T] {
	return Msg[T]{Value: value, t: &Tracker{size: clampSize(size), settler: s}}
}

// Attach returns a message carrying value that uses t, which the caller
// owns, to track its settlement; the settlement goes to s. A source that
// allocates a struct per message anyway can embed a Tracker in it and make
// that struct the Settler, so that a message costs no allocation of ours.
//
// A Tracker serves one message: t must be a zero Tracker, and Attach panics
// if t was attached before. Reusing it for a later message is unsafe even
// after settlement, because a stale copy of the earlier message, settled
// again by mistake or by a forced drain's clean-up, would settle the later
// one.
func Attach[T any](value T, t *Tracker, size int, s Settler) Msg[T] {
	if t.settler != nil || t.flow != nil || t.state.Load() != trackerPending {
		panic("stage: Attach given a Tracker that was attached before; a Tracker serves one message")
	}
	t.size = clampSize(size)
	t.settler = s
	return Msg[T]{Value: value, t: t}
}

// Size returns the message's size in bytes as given to NewMsg or Attach. A
// part made by FlatMap has an equal share of its parent's size.
func (m Msg[T]) Size() int {
	if m.t == nil {
		return 0
	}
	return int(m.t.size)
}

// clampSize keeps a size within the tracker's 32 bits; a message of 2 GiB
// or more counts as 2 GiB minus one byte.
func clampSize(size int) int32 {
	return int32(min(max(size, 0), math.MaxInt32))
}

// Settled reports whether the message has been settled. WARNING: another
// stage may settle it right after the call returns.
func (m Msg[T]) Settled() bool {
	return m.t != nil && m.t.state.Load() == trackerSettled
}

// Ack settles the message as processed and reports whether this call
// settled it. A message settled before is left as it was, and the call is
// counted in Stats.Duplicates.
func (m Msg[T]) Ack() bool { return m.settle(ackVerdict) }

// Nack settles the message as not processed, to be delivered again after
// delay, and reports whether this call settled it; see Ack.
func (m Msg[T]) Nack(delay time.Duration, reason string) bool {
	return m.settle(nackVerdict(delay, reason))
}

// DeadLetter settles the message as never processable, to be sent to the
// dead-letter target with reason, and reports whether this call settled it;
// see Ack.
func (m Msg[T]) DeadLetter(reason string) bool {
	return m.settle(deadLetterVerdict(reason))
}

func (m Msg[T]) settle(v verdict) bool {
	if m.t == nil {
		return false
	}
	tl := newTally(m.t.flow, "")
	ok := m.t.settle(v, &tl)
	tl.flush()
	return ok
}
