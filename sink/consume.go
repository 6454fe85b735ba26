package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// pumpBuffer is how many received messages wait for the pipeline's entry,
// one chunk's worth.
const pumpBuffer = stage.DefaultChunkSize

// leftOver is the nack reason of messages received but never admitted
// into the pipeline.
const leftOver = "the route stopped before the message entered its pipeline"

// subscription is one run of a route: its consumer, the goroutine that
// receives from it, and the goroutine that settles what the pipeline is
// done with.
type subscription struct {
	route    *route
	consumer *danube.Consumer
	settler  *settler

	// The pump receives from the consumer into pumped.
	// TODO(limit): the consumer has no call that returns what is buffered
	// without waiting, so one goroutine per route receives ahead of the
	// pipeline, costing a channel hop per message and holding up to
	// pumpBuffer messages outside the pipeline's in-flight limits.
	pumped   chan *delivery
	pumpCtx  context.Context
	stopPump context.CancelFunc
	pumpDone chan struct{}

	mu  sync.Mutex
	err error // why the subscription failed, nil while it works
}

func newSubscription(r *route, cons *danube.Consumer) *subscription {
	s := &subscription{
		route:    r,
		consumer: cons,
		pumped:   make(chan *delivery, pumpBuffer),
		pumpDone: make(chan struct{}),
	}
	s.settler = newSettler(s)
	s.pumpCtx, s.stopPump = context.WithCancel(context.Background())
	return s
}

func (s *subscription) settle(st settlement) { s.settler.push(st) }

// failure returns why the subscription failed, or nil.
func (s *subscription) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// pump receives messages until stopped. A receive failure, a partition
// that the consumer gave up on, fails the subscription: it drains the
// pipeline through stopPipeline, and the route returns the failure so
// that its supervisor subscribes again.
func (s *subscription) pump(stopPipeline context.CancelCauseFunc) {
	defer close(s.pumpDone)
	for {
		msg, err := s.consumer.Receive(s.pumpCtx)
		if err != nil {
			if s.pumpCtx.Err() != nil || errors.Is(err, danube.ErrClosed) {
				return
			}
			err = fmt.Errorf("receive: %w", err)
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			stopPipeline(err)
			return
		}

		d := newDelivery(s, msg)
		select {
		case s.pumped <- d:
		case <-s.pumpCtx.Done():
			d.Nack(0, leftOver)
			return
		}
	}
}

// finish ends the subscription once its pipeline has returned: it stops
// the pump, nacks what the pump received and the pipeline never took,
// waits for every settlement to reach the broker, and closes the consumer.
func (s *subscription) finish() {
	s.stopPump()
	<-s.pumpDone
	for len(s.pumped) > 0 {
		(<-s.pumped).Nack(0, leftOver)
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

// source is a route's stage.Source: it hands the pump's messages to the
// pipeline, as many as are ready, after waiting for the first.
type source struct {
	r *route
}

func (src *source) Receive(ctx context.Context, buf []stage.Msg[*Record]) (int, error) {
	sub := src.r.current()
	if sub == nil {
		return 0, errors.New("the route has no subscription")
	}

	var d *delivery
	select {
	case d = <-sub.pumped:
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}

	n, redelivered := 0, 0
	for {
		buf[n] = stage.Attach(&d.rec, &d.tracker, len(d.rec.Payload), stage.Settler(d))
		n++
		if d.rec.Attempt > 1 {
			redelivered++
		}
		if n == len(buf) {
			break
		}
		select {
		case d = <-sub.pumped:
			continue
		default:
		}
		break
	}
	src.r.inst.RecordReceive(ctx, n, redelivered)
	return n, nil
}
