package danubetest

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// Subscription types, as ConsumerRequest.SubscriptionType numbers them.
const (
	subExclusive int32 = 0
	subShared    int32 = 1
	subFailover  int32 = 2
	subKeyShared int32 = 3
)

// cursorFlushInterval is how often at most a reliable subscription persists
// its cursor while acknowledgements advance it.
const cursorFlushInterval = 10 * time.Second

// subscription is a subscription of a loaded topic with its consumers and,
// on a reliable topic, its dispatcher state.
type subscription struct {
	topic    *topic
	name     string
	subType  int32
	meta     *subMeta
	reliable bool
	// wake requests a dispatcher pass. A full channel already contains a
	// request.
	wake chan struct{}
	stop chan struct{}

	// batch, readBuf and targetBuf are reused by the dispatcher goroutine
	// alone.
	batch     []dispatchItem
	readBuf   []*danubepb.StreamMessage
	targetBuf []target

	mu        sync.Mutex
	closed    bool
	consumers []*consumer
	rr        int
	idleSince time.Time
	ring      hashRing

	// The reliable state below is guarded by mu as well.
	policy     FailurePolicy
	window     int
	win        inflightWindow
	next       uint64 // next log offset to dispatch
	cursor     int64  // -1 until known
	lastFlush  time.Time
	dirty      bool
	nWaiting   int
	nExhausted int
	nBlocked   int               // statusKeyBlocked entries
	activeKeys map[string]uint64 // Key-Shared: key → offset in flight
	deliveries map[uint64]uint32 // offset → deliveries, for inspection
}

func newSubscription(t *topic, name string, subType int32) (*subscription, error) {
	b := t.inst.b
	md := b.md
	sm := md.subscription(t.meta, name, subType, true)
	md.mu.Lock()
	subType = sm.subType
	md.mu.Unlock()
	s := &subscription{
		topic:    t,
		name:     name,
		subType:  subType,
		meta:     sm,
		reliable: t.meta.reliable,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		cursor:   -1,
	}
	if !s.reliable {
		return s, nil
	}

	md.mu.Lock()
	if sm.policy == nil {
		p := DefaultFailurePolicy()
		sm.policy = &p
	}
	policy, window, cursor := *sm.policy, sm.window, sm.cursor
	md.mu.Unlock()
	if err := policy.validate(); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "not able to subscribe to topic %s: %v", t.name, err)
	}
	if window == 0 {
		window = b.opts.window
	}

	// A new subscription starts at the latest message; a known one resumes
	// after its persisted cursor.
	start := t.meta.log.end()
	if cursor >= 0 {
		start = uint64(cursor) + 1
	}
	s.policy = policy
	s.window = window
	s.next = start
	s.cursor = cursor
	s.win.reset(start)
	s.lastFlush = b.clk.Now()
	s.activeKeys = map[string]uint64{}
	s.deliveries = map[uint64]uint32{}

	t.inst.wg.Add(1)
	go s.run()
	return s, nil
}

// notify requests a dispatcher pass without waiting.
func (s *subscription) notify() {
	if !s.reliable {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) consumerNamed(name string) *consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.consumers {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *subscription) consumerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.consumers)
}

func (s *subscription) addConsumer(c *consumer) {
	s.mu.Lock()
	s.consumers = append(s.consumers, c)
	s.idleSince = time.Time{}
	if s.subType == subKeyShared {
		s.ring = buildRing(s.consumers)
	}
	s.mu.Unlock()
	s.notify()
}

// takeover gives the consumer c to a new session of the same consumer name:
// its stream ends, it turns active and its unacknowledged messages are due
// for immediate redelivery.
func (s *subscription) takeover(c *consumer) {
	c.takeOver()
	s.redeliverFrom(c)
}

// streamEnded handles the end of c's stream: c is inactive and its
// unacknowledged messages are due for immediate redelivery.
func (s *subscription) streamEnded(c *consumer) {
	s.redeliverFrom(c)
}

// redeliverFrom schedules the unacknowledged messages of c for immediate
// redelivery: all of them on the single-consumer types, where c's
// messages are the subscription's, and those sent to c otherwise.
func (s *subscription) redeliverFrom(c *consumer) {
	if !s.reliable {
		return
	}
	now := s.topic.inst.b.clk.Now()
	s.mu.Lock()
	var due []*pending
	s.win.each(func(p *pending) bool {
		switch p.status {
		case statusAwaitingAck, statusWaitingToRetry:
			if s.subType == subExclusive || s.subType == subFailover || p.target == c {
				due = append(due, p)
			}
		}
		return true
	})
	for _, p := range due {
		s.setStatusLocked(p, statusWaitingToRetry)
		p.retryAt = now
		p.target = nil
	}
	s.mu.Unlock()
	s.notify()
}

// close ends the subscription on its broker: the cursor is persisted, the
// dispatcher stops and the consumers' streams end. It returns the consumer
// ids.
func (s *subscription) close() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.reliable {
		if s.cursor >= 0 {
			s.topic.inst.b.md.persistCursor(s.meta, s.cursor)
		}
		close(s.stop)
	}
	ids := make([]uint64, 0, len(s.consumers))
	for _, c := range s.consumers {
		c.remove()
		ids = append(ids, c.id)
	}
	return ids
}

func (s *subscription) markIdle(now time.Time) {
	s.mu.Lock()
	if s.idleSince.IsZero() {
		s.idleSince = now
	}
	s.mu.Unlock()
}

// idleLongerThan reports whether the subscription was marked idle more than
// grace before now and has no active consumer.
func (s *subscription) idleLongerThan(now time.Time, grace time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idleSince.IsZero() || now.Sub(s.idleSince) <= grace {
		return false
	}
	for _, c := range s.consumers {
		if c.active.Load() {
			return false
		}
	}
	return true
}

// dispatchNonReliable hands m to a consumer without waiting: a consumer
// whose channel is full loses it. It returns false when no consumer was
// active, which marks the subscription idle.
func (s *subscription) dispatchNonReliable(m *danubepb.StreamMessage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.consumers) == 0 {
		return false
	}

	switch s.subType {
	case subShared:
		sawActive := false
		for range s.consumers {
			c := s.consumers[s.rr%len(s.consumers)]
			s.rr++
			if !c.active.Load() {
				continue
			}
			sawActive = true
			select {
			case c.ch <- m:
				return true
			default:
			}
		}
		return sawActive
	case subKeyShared:
		c := s.ring.pick(s.consumers, routingKey(m))
		if c == nil {
			return true
		}
		if !c.active.Load() {
			return false
		}
		trySend(c, m)
		return true
	default:
		c := s.consumers[0]
		if !c.active.Load() {
			return false
		}
		trySend(c, m)
		return true
	}
}

func trySend(c *consumer, m *danubepb.StreamMessage) {
	select {
	case c.ch <- m:
	default:
	}
}

// routingKey returns the Key-Shared key of m: its routing key, or its
// producer name when it has none.
func routingKey(m *danubepb.StreamMessage) string {
	if m.RoutingKey != nil {
		return *m.RoutingKey
	}
	return m.GetProducerName()
}

// ack settles offset if it is in flight; a late or duplicate ack does
// nothing.
func (s *subscription) ack(offset uint64) {
	s.mu.Lock()
	p := s.win.get(offset)
	if p == nil || p.status != statusAwaitingAck {
		s.mu.Unlock()
		return
	}
	s.settleLocked(p)
	s.mu.Unlock()
	s.notify()
}

// nack schedules offset for redelivery after the policy delay, or at least
// after requested, or exhausts it past the redelivery limit.
func (s *subscription) nack(offset uint64, requested time.Duration, reason *string) {
	now := s.topic.inst.b.clk.Now()
	s.mu.Lock()
	p := s.win.get(offset)
	if p == nil || p.status == statusKeyBlocked {
		s.mu.Unlock()
		return
	}
	s.scheduleRetryLocked(p, now, requested, reason)
	s.mu.Unlock()
	s.notify()
}

// scheduleRetryLocked applies the failure policy to p after a nack or an
// ack timeout.
func (s *subscription) scheduleRetryLocked(p *pending, now time.Time, requested time.Duration, reason *string) {
	if reason != nil {
		p.reason, p.hasReason = *reason, true
	}
	p.target = nil
	if p.attempt > s.policy.MaxRedeliveries {
		s.setStatusLocked(p, statusRetryExhausted)
		return
	}
	p.retryAt = now.Add(s.policy.redeliveryDelay(p.attempt, requested))
	s.setStatusLocked(p, statusWaitingToRetry)
}

// setStatusLocked changes p's status and keeps the status counters.
func (s *subscription) setStatusLocked(p *pending, st pendingStatus) {
	s.countLocked(p.status, -1)
	p.status = st
	s.countLocked(st, 1)
}

func (s *subscription) countLocked(st pendingStatus, delta int) {
	switch st {
	case statusWaitingToRetry:
		s.nWaiting += delta
	case statusRetryExhausted:
		s.nExhausted += delta
	case statusKeyBlocked:
		s.nBlocked += delta
	}
}

// settleLocked removes p from the window, after an ack or a skip, frees its
// key and advances the cursor.
func (s *subscription) settleLocked(p *pending) {
	s.countLocked(p.status, -1)
	if s.subType == subKeyShared {
		if off, ok := s.activeKeys[p.key]; ok && off == p.offset {
			delete(s.activeKeys, p.key)
		}
	}
	if s.win.remove(p.offset) {
		s.cursorAdvancedLocked()
	}
}

// cursorAdvancedLocked records the new cursor and persists it when the last
// persist is at least cursorFlushInterval old, as the broker does: a cursor
// that stops moving is persisted only when the topic unloads.
func (s *subscription) cursorAdvancedLocked() {
	s.cursor = int64(s.win.base) - 1
	now := s.topic.inst.b.clk.Now()
	if now.Sub(s.lastFlush) < cursorFlushInterval {
		s.dirty = true
		return
	}
	s.topic.inst.b.md.persistCursor(s.meta, s.cursor)
	s.lastFlush = now
	s.dirty = false
}
