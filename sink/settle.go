package sink

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// delivery is one message received from the broker on its way through a
// pipeline: the record as received, the message to acknowledge, and the
// pipeline's tracker, in one allocation. It is the stage.Settler of its
// message. A stage may replace the record with another; rec stays as the
// broker delivered it, for the dead-letter topic.
type delivery struct {
	tracker stage.Tracker
	rec     Record
	msg     *danube.Message
	src     *Source
	// held marks a delivery whose key is in src.held until it is settled.
	held bool
}

func newDelivery(src *Source, msg *danube.Message) *delivery {
	d := &delivery{msg: msg, src: src}
	r := &d.rec
	r.Topic = src.cons.Topic()
	r.PartitionTopic = msg.ID.Topic
	r.Partition = max(msg.Partition(), 0)
	r.Offset = msg.ID.Offset
	r.Subscription = src.cons.Subscription()
	r.Attempt = msg.DeliveryAttempt
	r.Payload = msg.Payload
	r.Attributes = msg.Attributes
	r.Key = msg.RoutingKey
	r.Producer = msg.ProducerName
	r.PublishTime = msg.PublishTime
	if msg.HasSchema {
		r.SchemaID, r.SchemaVersion = msg.SchemaID, msg.SchemaVersion
	}
	return d
}

// release removes the delivery from its source's set of held messages,
// once, just before its ack or nack goes to the broker. Removing it
// before a nack is sent matters: the broker may redeliver the message at
// once, and that delivery must enter the pipeline.
func (d *delivery) release() {
	if d.held {
		d.held = false
		d.src.held.release(d.msg)
	}
}

// Ack, Nack and DeadLetter queue the settlement for the source's settling
// goroutine: a stage must never wait for the broker.
func (d *delivery) Ack() { d.src.settler.push(settlement{d: d, kind: settleAck}) }

func (d *delivery) Nack(delay time.Duration, reason string) {
	d.src.settler.push(settlement{d: d, kind: settleNack, delay: delay, reason: reason})
}

func (d *delivery) DeadLetter(reason string) {
	d.src.settler.push(settlement{d: d, kind: settleDeadLetter, reason: reason})
}

type settleKind uint8

const (
	settleAck settleKind = iota
	settleNack
	settleDeadLetter
)

type settlement struct {
	d      *delivery
	kind   settleKind
	delay  time.Duration
	reason string
	// routine marks a nack that is no failure, such as that of a message
	// received after the pipeline stopped: it is left out of failures.
	routine bool
}

// failures is the count of records dead-lettered and nacked since the
// last warning about them, with the reason of the first of each kind.
type failures struct {
	deadLettered, nacked       int
	firstDeadLetter, firstNack string
}

// add counts s, unless it is an ack or a routine nack.
func (f *failures) add(s *settlement, dlq bool) {
	switch {
	case s.kind == settleAck || s.routine:
	case s.kind == settleDeadLetter && dlq:
		if f.deadLettered == 0 {
			f.firstDeadLetter = s.reason
		}
		f.deadLettered++
	default:
		if f.nacked == 0 {
			f.firstNack = s.reason
			if s.kind == settleDeadLetter {
				f.firstNack = noDeadLetterTopic + s.reason
			}
		}
		f.nacked++
	}
}

// noDeadLetterTopic starts the reason of a record nacked because a stage
// dead-lettered it and the source has no dead-letter topic.
const noDeadLetterTopic = "invalid data, and no dead-letter topic is configured: "

// settler sends the settlements of one source to the broker from a
// goroutine of its own: acks and nacks through the consumer's
// asynchronous calls, dead letters through the dead-letter producer,
// followed by an ack once the broker stored them.
type settler struct {
	src *Source
	// callback is st.acked, the callback of every ack and nack, made once:
	// a method value made per call costs an allocation per message.
	callback func(error)

	mu     sync.Mutex
	queue  []settlement
	spare  []settlement
	closed bool
	failed failures // since the last warning, guarded by mu
	wake   chan struct{}
	done   chan struct{}
	// warnWhenIdle makes run warn of the failures whenever the queue is
	// empty. A route's Source leaves it false: its route warns once per
	// settled batch instead (see route.warnFailures).
	warnWhenIdle bool

	inFlight  sync.WaitGroup // calls to the broker not yet completed
	ackFailed atomic.Int64   // acks and nacks that failed
	dlqFailed atomic.Int64   // dead letters that could not be published
	late      atomic.Int64   // settlements that came after close
}

func newSettler(src *Source) *settler {
	st := &settler{src: src, wake: make(chan struct{}, 1), done: make(chan struct{})}
	st.callback = st.acked
	return st
}

// push queues s; it never blocks. A settlement that comes after close,
// from a stage the pipeline abandoned, is dropped: the consumer is closed
// by then, and the broker redelivers the message.
func (st *settler) push(s settlement) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		st.late.Add(1)
		s.d.release()
		return
	}
	st.queue = append(st.queue, s)
	if s.kind != settleAck {
		st.failed.add(&s, st.src.opts.DeadLetter != nil)
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// close makes run return once every queued settlement is sent and every
// call to the broker has completed.
func (st *settler) close() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// run sends the queued settlements until close.
func (st *settler) run() {
	defer close(st.done)
	for {
		st.mu.Lock()
		batch, closed := st.queue, st.closed
		st.queue, st.spare = st.spare[:0], batch
		st.mu.Unlock()

		for i := range batch {
			st.send(batch[i])
			batch[i] = settlement{}
		}
		if len(batch) > 0 {
			continue
		}
		if closed {
			st.inFlight.Wait()
			return
		}
		if st.warnWhenIdle {
			st.src.warnFailures()
		}
		<-st.wake
	}
}

// send hands one settlement to the broker without waiting for its reply.
func (st *settler) send(s settlement) {
	cons := st.src.cons
	switch s.kind {
	case settleAck:
		s.d.release()
		st.inFlight.Add(1)
		cons.AckAsync(s.d.msg, st.callback)
	case settleNack:
		s.d.release()
		st.inFlight.Add(1)
		cons.NackAsync(s.d.msg, s.delay, s.reason, st.callback)
	case settleDeadLetter:
		st.deadLetter(s.d, s.reason)
	}
}

// acked is the callback of an ack or nack.
func (st *settler) acked(err error) {
	if err != nil {
		if st.ackFailed.Add(1) == 1 {
			st.src.log.Warn("acknowledgement failed; the broker will deliver the message again",
				"source", st.src.label, "error", err)
		}
	}
	st.inFlight.Done()
}

// deadLetter publishes the record to the source's dead-letter topic and
// acks it once the broker stored it, or nacks it when there is no
// dead-letter topic or the publish failed. The record stays in the
// source's set of held messages while the publish runs, so a redelivery
// meanwhile is dropped rather than dead-lettered a second time.
func (st *settler) deadLetter(d *delivery, reason string) {
	src := st.src
	cons, dlq := src.cons, src.opts.DeadLetter
	if dlq == nil {
		d.release()
		st.inFlight.Add(1)
		cons.NackAsync(d.msg, 0, noDeadLetterTopic+reason, st.callback)
		return
	}

	st.inFlight.Add(1)
	ctx, cancel := context.WithTimeout(src.sends, deadLetterTimeout)
	msg := deadLetterMessage(d, reason, src.opts.Connector)
	dlq.SendAsync(ctx, msg, func(err error) {
		cancel()
		d.release()
		if err == nil {
			cons.AckAsync(d.msg, st.callback)
			return
		}
		if st.dlqFailed.Add(1) == 1 {
			src.log.Error("publishing to the dead-letter topic failed; the message is nacked and will be delivered again",
				"source", src.label, "dead_letter_topic", dlq.Topic(), "error", err)
		}
		cons.NackAsync(d.msg, 0, "dead-letter publish failed: "+err.Error(), st.callback)
	})
}

// takeFailures returns the failures counted since the last call, and
// starts counting anew.
func (st *settler) takeFailures() failures {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.failed
	st.failed = failures{}
	return f
}

// deadLetterTimeout bounds one publish to the dead-letter topic, retries
// included.
const deadLetterTimeout = 30 * time.Second
