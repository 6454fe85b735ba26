package danubetest

import (
	"time"
)

// heartbeatInterval is the period of a reliable dispatcher's watchdog pass,
// which detects ack timeouts and due redeliveries.
const heartbeatInterval = 500 * time.Millisecond

// dispatchItem is one message a pass hands to a consumer.
type dispatchItem struct {
	p    *pending
	c    *consumer
	gone <-chan struct{}
}

// target is a consumer a pass may send to.
type target struct {
	c    *consumer
	gone <-chan struct{}
}

// run is the dispatcher of a reliable subscription: one goroutine that makes
// a pass on every publish, ack, nack and reconnect, and on a heartbeat.
func (s *subscription) run() {
	inst := s.topic.inst
	defer inst.wg.Done()
	ticker := inst.b.clk.NewTicker(heartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-inst.done:
			return
		case <-s.wake:
			s.pass(false)
		case <-ticker.C():
			s.pass(true)
		}
	}
}

// pass is one dispatch round. On a heartbeat it first expires ack
// deadlines. Then it applies the poison policy to exhausted messages,
// resends the messages due for redelivery, fills the window with new
// messages, and finally sends what it chose.
func (s *subscription) pass(heartbeat bool) {
	now := s.topic.inst.b.clk.Now()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if heartbeat {
		s.expireAcksLocked(now)
	}
	targets := s.targetsLocked()
	if len(targets) == 0 {
		s.mu.Unlock()
		return
	}

	var dead []deadLetter
	blocked := false
	if s.nExhausted > 0 {
		blocked, dead = s.resolveExhaustedLocked()
	}
	batch := s.batch[:0]
	if s.nWaiting > 0 || s.nBlocked > 0 {
		batch = s.collectRetriesLocked(now, targets, batch)
	}
	if !blocked {
		batch = s.fillLocked(now, targets, batch)
	}
	s.mu.Unlock()

	if len(dead) > 0 {
		s.deadLetter(dead)
	}
	s.deliver(batch)
	clear(batch)
	s.batch = batch[:0]
}

// expireAcksLocked applies the failure policy to messages whose ack
// deadline has passed.
func (s *subscription) expireAcksLocked(now time.Time) {
	var expired []*pending
	s.win.each(func(p *pending) bool {
		if p.status == statusAwaitingAck && !now.Before(p.ackDeadline) {
			expired = append(expired, p)
		}
		return true
	})
	reason := "ack timeout"
	for _, p := range expired {
		s.scheduleRetryLocked(p, now, 0, &reason)
	}
}

// targetsLocked returns the consumers a pass may send to: the first
// attached consumer on Exclusive and Failover subscriptions, if it is
// active, and every active consumer otherwise. On Failover the other
// consumers stand by and never take over, as on broker v0.15.1.
func (s *subscription) targetsLocked() []target {
	ts := s.targetBuf[:0]
	switch s.subType {
	case subShared, subKeyShared:
		for _, c := range s.consumers {
			if c.active.Load() {
				ts = append(ts, target{c: c, gone: c.goneChan()})
			}
		}
	default:
		if len(s.consumers) > 0 && s.consumers[0].active.Load() {
			c := s.consumers[0]
			ts = append(ts, target{c: c, gone: c.goneChan()})
		}
	}
	s.targetBuf = ts
	return ts
}

// pickLocked chooses the consumer for p among targets, or reports false
// when none may take it now.
func (s *subscription) pickLocked(p *pending, targets []target) (target, bool) {
	switch s.subType {
	case subShared:
		t := targets[s.rr%len(targets)]
		s.rr++
		return t, true
	case subKeyShared:
		c := s.ring.pick(s.consumers, p.key)
		if c == nil {
			return target{}, false
		}
		for _, t := range targets {
			if t.c == c {
				return t, true
			}
		}
		return target{}, false
	default:
		return targets[0], true
	}
}

// collectRetriesLocked chooses consumers for the messages due for
// redelivery and, on Key-Shared, for the blocked messages whose key is free.
func (s *subscription) collectRetriesLocked(now time.Time, targets []target, batch []dispatchItem) []dispatchItem {
	var skipped []*pending
	s.win.each(func(p *pending) bool {
		switch p.status {
		case statusWaitingToRetry:
			if now.Before(p.retryAt) {
				return true
			}
		case statusKeyBlocked:
			if _, busy := s.activeKeys[p.key]; busy {
				return true
			}
			if s.ring.pick(s.consumers, p.key) == nil {
				skipped = append(skipped, p)
				return true
			}
		default:
			return true
		}
		t, ok := s.pickLocked(p, targets)
		if !ok {
			return true
		}
		if p.status == statusKeyBlocked {
			s.activeKeys[p.key] = p.offset
		}
		s.startSendLocked(p, t.c, now)
		batch = append(batch, dispatchItem{p: p, c: t.c, gone: t.gone})
		return true
	})
	for _, p := range skipped {
		s.settleLocked(p)
	}
	return batch
}

// fillLocked takes new messages from the topic while the window has room.
//
// NOTE: on Key-Shared the broker v0.15.1 takes one message per trigger,
// evicts consumers that stay inactive, and waits for the ack timeout after
// a disconnect. Here Key-Shared fills the window like the other types,
// keeps inactive consumers on the ring, and redelivers a disconnected
// consumer's messages at once.
func (s *subscription) fillLocked(now time.Time, targets []target, batch []dispatchItem) []dispatchItem {
	room := s.window - s.win.live
	if room <= 0 {
		return batch
	}
	msgs := s.topic.meta.log.read(s.readBuf[:0], s.next, room)
	for _, m := range msgs {
		p := &pending{offset: s.next, msg: m}
		s.next++

		if s.subType == subKeyShared {
			p.key = routingKey(m)
			if s.ring.pick(s.consumers, p.key) == nil {
				// No consumer accepts the key: the message is skipped.
				if s.win.pushSkipped() {
					s.cursorAdvancedLocked()
				}
				continue
			}
			if _, busy := s.activeKeys[p.key]; busy {
				p.status = statusKeyBlocked
				s.nBlocked++
				s.win.push(p)
				continue
			}
		}

		t, ok := s.pickLocked(p, targets)
		if !ok {
			p.status = statusKeyBlocked
			s.nBlocked++
			s.win.push(p)
			continue
		}
		if s.subType == subKeyShared {
			s.activeKeys[p.key] = p.offset
		}
		s.win.push(p)
		s.startSendLocked(p, t.c, now)
		batch = append(batch, dispatchItem{p: p, c: t.c, gone: t.gone})
	}
	clear(msgs)
	s.readBuf = msgs[:0]
	return batch
}

// startSendLocked records a delivery attempt of p to c before the send
// itself. An ack or nack that the consumer sends as soon as it has the
// message then finds the attempt counted, as on the broker, whose
// dispatcher handles acks only after its send returned. markSent moves the
// ack deadline to the moment the consumer's channel took the message. Only
// this dispatcher checks deadlines, so none can expire in between.
func (s *subscription) startSendLocked(p *pending, c *consumer, now time.Time) {
	p.attempt++
	s.deliveries[p.offset]++
	s.setStatusLocked(p, statusAwaitingAck)
	p.ackDeadline = now.Add(s.policy.AckTimeout)
	p.target = c
	p.sent = false
}

// deliver sends the chosen messages, waiting while a consumer's channel is
// full: that wait is the backpressure of a slow consumer. If a consumer
// turns inactive meanwhile, the rest of the batch goes back for immediate
// redelivery.
func (s *subscription) deliver(batch []dispatchItem) {
	inst := s.topic.inst
	settled := 0
	for i := range batch {
		it := &batch[i]
		select {
		case it.c.ch <- it.p.msg:
			continue
		default:
		}

		s.markSent(batch[settled:i])
		settled = i
		select {
		case it.c.ch <- it.p.msg:
		case <-it.gone:
			s.requeue(batch[i:])
			return
		case <-s.stop:
			return
		case <-inst.done:
			return
		}
	}
	s.markSent(batch[settled:])
}

// markSent records that the consumers' channels took items, and starts
// their ack deadlines now.
func (s *subscription) markSent(items []dispatchItem) {
	if len(items) == 0 {
		return
	}
	now := s.topic.inst.b.clk.Now()
	s.mu.Lock()
	for i := range items {
		p := items[i].p
		if p.status == statusAwaitingAck && p.target == items[i].c && !p.sent {
			p.sent = true
			p.ackDeadline = now.Add(s.policy.AckTimeout)
		}
	}
	s.mu.Unlock()
}

// requeue takes back the attempts of items that could not be sent and
// makes them due for immediate redelivery.
func (s *subscription) requeue(items []dispatchItem) {
	now := s.topic.inst.b.clk.Now()
	s.mu.Lock()
	for i := range items {
		p := items[i].p
		if p.status != statusAwaitingAck || p.target != items[i].c || p.sent {
			continue
		}
		p.attempt--
		s.deliveries[p.offset]--
		p.target = nil
		if s.subType == subKeyShared && p.attempt == 0 {
			// Never delivered: the message waits for its consumer again and
			// frees its key, as a blocked message.
			if off, ok := s.activeKeys[p.key]; ok && off == p.offset {
				delete(s.activeKeys, p.key)
			}
			s.setStatusLocked(p, statusKeyBlocked)
			continue
		}
		s.setStatusLocked(p, statusWaitingToRetry)
		p.retryAt = now
	}
	s.mu.Unlock()
	s.notify()
}
