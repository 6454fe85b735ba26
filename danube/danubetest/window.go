package danubetest

import (
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// pendingStatus is the state of a message in a reliable subscription's
// window.
type pendingStatus uint8

const (
	// statusAwaitingAck: sent to a consumer, with an ack deadline. Until
	// the consumer's channel accepts it the message is still on its way,
	// which inspection shows as "sending".
	statusAwaitingAck pendingStatus = iota
	// statusWaitingToRetry: nacked, timed out or its consumer left; due
	// again at retryAt.
	statusWaitingToRetry
	// statusRetryExhausted: past the redelivery limit, waiting for the
	// poison policy.
	statusRetryExhausted
	// statusKeyBlocked: Key-Shared only, not yet sent because an earlier
	// message of its key is in flight or its consumer is inactive.
	statusKeyBlocked
)

func (s pendingStatus) String() string {
	switch s {
	case statusAwaitingAck:
		return "awaiting_ack"
	case statusWaitingToRetry:
		return "waiting_to_retry"
	case statusRetryExhausted:
		return "retry_exhausted"
	case statusKeyBlocked:
		return "key_blocked"
	}
	return "unknown"
}

// statusName returns the status inspection shows.
func (p *pending) statusName() string {
	if p.status == statusAwaitingAck && !p.sent {
		return "sending"
	}
	return p.status.String()
}

// pending is one message in a reliable subscription's window, from its
// first dispatch until it is acknowledged or skipped.
type pending struct {
	offset      uint64
	msg         *danubepb.StreamMessage
	key         string // Key-Shared routing key
	attempt     uint32 // deliveries so far, counted when a send starts
	status      pendingStatus
	sent        bool // the consumer's channel accepted the current attempt
	ackDeadline time.Time
	retryAt     time.Time
	reason      string
	hasReason   bool
	target      *consumer
	// deadLetterFailed is set once publishing to the dead-letter topic
	// failed, so that the failure is logged once.
	deadLetterFailed bool
}

// inflightWindow holds the pending messages of a reliable subscription in
// offset order, from the first offset not yet acknowledged up to the last
// one dispatched. Acknowledged and skipped offsets are nil slots until the
// slots before them are gone too, so the base is always the offset after
// the cursor.
type inflightWindow struct {
	base  uint64 // offset of slots[head]
	slots []*pending
	head  int
	live  int // non-nil slots
}

func (w *inflightWindow) reset(base uint64) {
	*w = inflightWindow{base: base}
}

// end returns the offset after the last slot.
func (w *inflightWindow) end() uint64 {
	return w.base + uint64(len(w.slots)-w.head)
}

// push appends p, whose offset must be end().
func (w *inflightWindow) push(p *pending) {
	w.slots = append(w.slots, p)
	w.live++
}

// pushSkipped appends an already settled slot for offset end() and reports
// whether the cursor advanced.
func (w *inflightWindow) pushSkipped() bool {
	w.slots = append(w.slots, nil)
	return w.trim()
}

func (w *inflightWindow) get(offset uint64) *pending {
	if offset < w.base || offset >= w.end() {
		return nil
	}
	return w.slots[w.head+int(offset-w.base)]
}

// remove settles offset and reports whether the cursor advanced.
func (w *inflightWindow) remove(offset uint64) bool {
	if offset < w.base || offset >= w.end() {
		return false
	}
	i := w.head + int(offset-w.base)
	if w.slots[i] == nil {
		return false
	}
	w.slots[i] = nil
	w.live--
	return w.trim()
}

// trim drops the settled slots at the front.
func (w *inflightWindow) trim() bool {
	advanced := false
	for w.head < len(w.slots) && w.slots[w.head] == nil {
		w.head++
		w.base++
		advanced = true
	}
	if w.head == len(w.slots) {
		w.slots = w.slots[:0]
		w.head = 0
	} else if w.head >= 1024 && w.head >= len(w.slots)/2 {
		n := copy(w.slots, w.slots[w.head:])
		clear(w.slots[n:])
		w.slots = w.slots[:n]
		w.head = 0
	}
	return advanced
}

// each calls fn on every pending message in offset order until fn returns
// false.
func (w *inflightWindow) each(fn func(*pending) bool) {
	for _, p := range w.slots[w.head:] {
		if p != nil && !fn(p) {
			return
		}
	}
}
