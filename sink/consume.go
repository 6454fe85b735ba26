package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// leftOver is the nack reason of messages received after the pipeline
// stopped taking any.
const leftOver = "the route stopped before the message entered its pipeline"

// subscription is one run of a route: its consumer, and the goroutine
// that settles what the pipeline is done with.
type subscription struct {
	route    *route
	consumer *danube.Consumer
	settler  *settler
	msgs     []*danube.Message // the receive buffer; the entry stage receives from one goroutine

	mu  sync.Mutex
	err error // the cause of the subscription's failure, nil while it works
}

func newSubscription(r *route, cons *danube.Consumer) *subscription {
	s := &subscription{route: r, consumer: cons}
	s.settler = newSettler(s)
	return s
}

func (s *subscription) settle(st settlement) { s.settler.push(st) }

// failure returns why the subscription failed, or nil.
func (s *subscription) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *subscription) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// finish ends the subscription once its pipeline has returned: it nacks
// the messages the consumer received after the pipeline stopped taking
// any, waits for every settlement to reach the broker, and closes the
// consumer. A message that arrives after that, while the consumer closes,
// is delivered again by the broker when the consumer's stream ends.
func (s *subscription) finish() {
	done, cancel := context.WithCancel(context.Background())
	cancel() // receive only what is buffered
	buf := s.buffer(pumpBatch)
	for {
		n, err := s.consumer.ReceiveBatch(done, buf)
		for _, msg := range buf[:n] {
			newDelivery(s, msg).Nack(0, leftOver)
		}
		clear(buf[:n])
		if n < len(buf) || err != nil {
			break // one pass: nacked messages may come back at once
		}
	}
	s.settler.close()
	<-s.settler.done
	_ = s.consumer.Close() // always nil

	st, log := s.settler, s.route.rt.log
	if n := st.ackFailed.Load(); n > 0 {
		log.Warn("acknowledgements failed during the subscription; the broker delivers those messages again",
			"route", s.route.label, "failed", n)
	}
	if n := st.dlqFailed.Load(); n > 0 {
		log.Error("dead-letter publishes failed during the subscription; those messages were nacked",
			"route", s.route.label, "failed", n)
	}
	if n := st.late.Load(); n > 0 {
		log.Warn("settlements came after the consumer closed, from a stage stuck in the connector; the broker delivers those messages again",
			"route", s.route.label, "messages", n)
	}
}

// pumpBatch is how many messages finish takes from the consumer's buffer
// at a time.
const pumpBatch = 128

// buffer returns the receive buffer with room for n messages.
func (s *subscription) buffer(n int) []*danube.Message {
	if cap(s.msgs) < n {
		s.msgs = make([]*danube.Message, n)
	}
	return s.msgs[:n]
}

// source is a route's stage.Source: it hands the consumer's messages to
// the pipeline, as many as are ready, after waiting for the first.
type source struct {
	r *route
}

// Receive returns io.EOF when the consumer failed, a partition it gave up
// on: the pipeline then drains, and the route returns the failure so that
// its supervisor subscribes again.
func (src *source) Receive(ctx context.Context, buf []stage.Msg[*Record]) (int, error) {
	sub := src.r.current()
	if sub == nil {
		return 0, errors.New("the route has no subscription")
	}

	msgs := sub.buffer(len(buf))
	n, err := sub.consumer.ReceiveBatch(ctx, msgs)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return 0, context.Cause(ctx)
	default:
		sub.fail(fmt.Errorf("receive: %w", err))
		return 0, io.EOF
	}

	redelivered := 0
	for i, msg := range msgs[:n] {
		d := newDelivery(sub, msg)
		buf[i] = stage.Attach(&d.rec, &d.tracker, len(msg.Payload), stage.Settler(d))
		if msg.DeliveryAttempt > 1 {
			redelivered++
		}
	}
	clear(msgs[:n])
	src.r.inst.RecordReceive(ctx, n, redelivered)
	return n, nil
}
