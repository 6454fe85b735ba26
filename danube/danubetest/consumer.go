package danubetest

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// consumerBuffer is the capacity of a consumer's message channel, the
// broker's per-consumer buffer between dispatcher and stream.
//
// NOTE: the broker's gRPC stream adds a buffer of 4 messages; here the
// stream buffers what HTTP/2 flow control allows (64 KiB and more), so a
// slow non-reliable consumer loses fewer messages than on the broker.
const consumerBuffer = 4

// consumer is a consumer attached to a subscription. A consumer is never
// detached from its subscription: when its stream drops it turns inactive
// until the same consumer name subscribes again or a new stream opens, and
// it goes away only with its topic or its idle non-reliable subscription.
type consumer struct {
	id      uint64
	name    string
	sub     *subscription
	filters []string
	// ch carries messages from the dispatcher to the stream. It outlives
	// streams, so messages buffered when a stream drops go to the next one.
	ch     chan *danubepb.StreamMessage
	active atomic.Bool

	mu sync.Mutex
	// gone is closed while the consumer is inactive, so that a dispatcher
	// blocked on a full ch gives up.
	gone chan struct{}
	// session is the stream attached now, if attached is set.
	session  *streamSession
	attached bool
	removed  bool
}

// streamSession is one ReceiveMessages stream of a consumer. done is closed
// when the stream must end, with err as its status, nil for a normal end.
type streamSession struct {
	done chan struct{}
	err  error
}

func newSession() *streamSession { return &streamSession{done: make(chan struct{})} }

// endLocked ends the current session with err and starts a fresh one.
func (c *consumer) endLocked(err error) {
	c.session.err = err
	close(c.session.done)
	c.session = newSession()
	c.attached = false
}

func newConsumer(s *subscription, name string, filters []string) *consumer {
	c := &consumer{
		id:      rand.Uint64(),
		name:    name,
		sub:     s,
		filters: append([]string(nil), filters...),
		ch:      make(chan *danubepb.StreamMessage, consumerBuffer),
		gone:    make(chan struct{}),
		session: newSession(),
	}
	c.active.Store(true)
	return c
}

// goneChan returns the channel that is closed once the consumer turns
// inactive.
func (c *consumer) goneChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

func (c *consumer) setActiveLocked() {
	if !c.active.Load() {
		c.gone = make(chan struct{})
		c.active.Store(true)
	}
}

func (c *consumer) setInactiveLocked() {
	if c.active.Load() {
		c.active.Store(false)
		close(c.gone)
	}
}

// attach starts a stream session: the previous stream ends and the consumer
// turns active. It returns the new session, and false if the consumer was
// removed.
func (c *consumer) attach() (*streamSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return nil, false
	}
	c.endLocked(nil)
	c.attached = true
	c.setActiveLocked()
	return c.session, true
}

// detach turns the consumer inactive after its stream ended by itself, and
// reports whether session was still the current one.
func (c *consumer) detach(session *streamSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || c.session != session {
		return false
	}
	c.attached = false
	c.setInactiveLocked()
	return true
}

// drop ends the attached stream with err and turns the consumer inactive,
// and reports whether a stream was attached.
func (c *consumer) drop(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || !c.attached {
		return false
	}
	c.endLocked(err)
	c.setInactiveLocked()
	return true
}

// takeOver ends the current stream and turns the consumer active, for a
// Subscribe with the name of an existing consumer.
func (c *consumer) takeOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return
	}
	c.endLocked(nil)
	c.setActiveLocked()
}

// remove ends the current stream for good.
func (c *consumer) remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return
	}
	c.endLocked(nil)
	c.removed = true
	c.setInactiveLocked()
}
