package danube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// partitionProducer is the producer of one topic or partition. Its session
// (the broker-side producer id and the route to its broker) is replaced as
// a whole when the producer is recreated, so that sends read it without a
// lock.
type partitionProducer struct {
	p     *Producer
	topic string
	name  string
	log   *slog.Logger

	session   atomic.Pointer[producerSession]
	recreate  chan struct{} // a one-slot lock: held while (re)creating
	requestID atomic.Uint64
}

type producerSession struct {
	route route
	id    uint64
}

// requestPool recycles the request messages of SendMessage: gRPC has
// encoded a unary request by the time the call returns.
var requestPool = sync.Pool{New: func() any {
	return &danubepb.StreamMessage{MsgId: &danubepb.MsgID{}}
}}

func newPartitionProducer(p *Producer, topic, name string) *partitionProducer {
	return &partitionProducer{
		p:        p,
		topic:    topic,
		name:     name,
		log:      p.client.log.With(slog.String("topic", topic), slog.String("producer", name)),
		recreate: make(chan struct{}, 1),
	}
}

// create looks the topic up and creates the producer on the broker that
// serves it, once.
func (pp *partitionProducer) create(ctx context.Context) (*producerSession, error) {
	c := pp.p.client
	r, err := c.lookup(ctx, pp.topic)
	if err != nil {
		return nil, err
	}

	resp, err := r.conn.pick().producer.CreateProducer(r.outgoing(ctx), &danubepb.ProducerRequest{
		RequestId:          pp.requestID.Add(1),
		ProducerName:       pp.name,
		TopicName:          pp.topic,
		SchemaRef:          pp.p.schemaRef,
		ProducerAccessMode: danubepb.ProducerAccessMode_Shared,
		DispatchStrategy:   pp.p.strategy,
	})
	if err != nil {
		return nil, newError("create producer", pp.topic, err)
	}
	if r.brokerURL == "" {
		r.brokerURL = c.serviceURL
	}
	return &producerSession{route: r, id: resp.GetProducerId()}, nil
}

// createWithRetry is the first creation, retried with backoff while the
// failure is retryable and ctx allows. In a cluster the broker replies
// UNAVAILABLE to the first create of a new topic while it assigns the topic.
func (pp *partitionProducer) createWithRetry(ctx context.Context) error {
	return pp.p.client.retrying(ctx, "create producer", pp.topic, func() error {
		s, err := pp.create(ctx)
		if err == nil {
			pp.session.Store(s)
		}
		return err
	})
}

// recover replaces the session stale by a new one, unless another goroutine
// already did: concurrent sends that fail on the same session recreate the
// producer once. stale nil means the producer has no session at all.
func (pp *partitionProducer) recover(ctx context.Context, stale *producerSession) (*producerSession, error) {
	select {
	case pp.recreate <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-pp.p.closing:
		return nil, ErrClosed
	}
	defer func() { <-pp.recreate }()

	if cur := pp.session.Load(); cur != nil && cur != stale {
		return cur, nil
	}
	s, err := pp.create(ctx)
	if err != nil {
		return nil, err
	}
	pp.session.Store(s)
	if stale != nil && stale.id != s.id {
		pp.log.Info("producer recreated", slog.Uint64("old_id", stale.id), slog.Uint64("new_id", s.id), slog.String("broker", s.route.brokerURL))
	} else {
		pp.log.Info("producer recreated", slog.Uint64("id", s.id), slog.String("broker", s.route.brokerURL))
	}
	return s, nil
}

// send publishes one message, with the retries and recoveries described on
// Producer.
func (pp *partitionProducer) send(ctx context.Context, msg *Message) error {
	p := pp.p
	req := requestPool.Get().(*danubepb.StreamMessage)
	defer func() {
		req.Payload, req.Attributes, req.RoutingKey = nil, nil, nil
		requestPool.Put(req)
	}()
	pp.fill(req, msg)

	var (
		retry      *retrier
		recoveries int
		rejected   time.Time // the first NOT_FOUND or PERMISSION_DENIED
		lastErr    error
	)
	clk := p.client.cfg.clock
	// rejectedTooLong counts a NOT_FOUND or PERMISSION_DENIED and reports
	// whether the send has been rejected so for longer than the producer's
	// RecoveryTimeout.
	rejectedTooLong := func() bool {
		recoveries++
		if recoveries == 1 {
			rejected = clk.Now()
			return false
		}
		return clk.Since(rejected) > p.recovery
	}
	s := pp.session.Load()
	stale := s
	for {
		if s == nil {
			var err error
			s, err = pp.recover(ctx, stale)
			if err != nil {
				if giveUp := pp.classifyFailure(ctx, err); giveUp != nil {
					return giveUp
				}
				// A create that keeps failing with NOT_FOUND or
				// PERMISSION_DENIED (no auto-creation, no permission) uses
				// up the same time as sends that fail so.
				if !IsRetryable(err) && rejectedTooLong() {
					return newError("send", pp.topic, err)
				}
				lastErr = err
				if retry == nil {
					retry = newRetrier(p.client.cfg.clock, p.client.cfg.backoff)
				}
				if werr := retry.wait(ctx, p.closing); werr != nil {
					return pp.waitError(ctx, werr, lastErr)
				}
				continue
			}
		}

		err := pp.sendOnce(ctx, s, req)
		if err == nil {
			return nil
		}
		if giveUp := pp.classifyFailure(ctx, err); giveUp != nil {
			return giveUp
		}
		lastErr = err

		switch codeOf(err) {
		case codes.NotFound, codes.PermissionDenied:
			// The producer is gone from this broker: the topic was unloaded
			// or moved, or is draining. Recreate it, at once the first time.
			if rejectedTooLong() {
				return newError("send", pp.topic, err)
			}
			stale, s = s, nil
			if recoveries == 1 {
				continue
			}
		case codes.Unavailable:
			// The broker may be gone for good: look the topic up again
			// after the wait.
			stale, s = s, nil
		}

		if retry == nil {
			retry = newRetrier(p.client.cfg.clock, p.client.cfg.backoff)
		}
		if werr := retry.wait(ctx, p.closing); werr != nil {
			return pp.waitError(ctx, werr, lastErr)
		}
	}
}

// classifyFailure returns the error that ends a send after err, or nil when
// the send goes on: err is retryable, or a NOT_FOUND or PERMISSION_DENIED
// that recreation may cure.
func (pp *partitionProducer) classifyFailure(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return contextError(ctx, "send", pp.topic, err)
	case pp.p.isClosing():
		return closedError("send", pp.topic)
	case errors.Is(err, ErrClosed):
		return closedError("send", pp.topic)
	}
	switch c := codeOf(err); {
	case retryableCode(c), c == codes.NotFound, c == codes.PermissionDenied:
		return nil
	case c == codes.OutOfRange:
		// The broker's gRPC server rejects a request over its size limit
		// (4 MiB as of v0.15) with OUT_OF_RANGE, before any handler runs;
		// no handler uses that code.
		return localError("send", pp.topic, c, fmt.Errorf(
			"%w: the request is larger than the broker accepts: %w", ErrMessageTooLarge, err))
	}
	return newError("send", pp.topic, err)
}

func (pp *partitionProducer) waitError(ctx context.Context, werr, last error) error {
	if errors.Is(werr, ErrClosed) {
		return closedError("send", pp.topic)
	}
	return contextError(ctx, "send", pp.topic, last)
}

// fill copies msg into the request; the session-specific fields are set by
// sendOnce.
func (pp *partitionProducer) fill(req *danubepb.StreamMessage, msg *Message) {
	p := pp.p
	publish := msg.PublishTime
	if publish.IsZero() {
		publish = p.client.cfg.clock.Now()
	}
	req.MsgId.TopicName = pp.topic
	req.MsgId.TopicOffset = 0
	req.Payload = msg.Payload
	req.PublishTime = publishMillis(publish)
	req.ProducerName = pp.name
	req.SubscriptionName = ""
	req.Attributes = msg.Attributes
	req.SchemaId = p.schemaID
	req.SchemaVersion = p.schemaVer
	req.RoutingKey = nil
	if msg.RoutingKey != "" {
		req.RoutingKey = &msg.RoutingKey
	}
}

func (pp *partitionProducer) sendOnce(ctx context.Context, s *producerSession, req *danubepb.StreamMessage) error {
	req.RequestId = pp.requestID.Add(1)
	req.MsgId.ProducerId = s.id
	req.MsgId.BrokerAddr = s.route.brokerURL

	_, err := s.route.conn.pick().producer.SendMessage(s.route.outgoing(ctx), req)
	return err
}

func (s *producerSession) healthAddress() (route, uint64) { return s.route, s.id }

func (pp *partitionProducer) healthTarget() healthSubject {
	if s := pp.session.Load(); s != nil {
		return s
	}
	return nil
}

// onHealthClose recreates the producer after the broker replied CLOSE for
// the checked session, if that is still the producer's session, retrying
// while the failure is retryable and the producer is open. A failure that
// is not retryable leaves the producer without a session: the next send
// tries again and reports the error.
func (pp *partitionProducer) onHealthClose(checked healthSubject) {
	ctx := pp.p.life
	var retry *retrier
	for {
		s := pp.session.Load()
		if s == nil || healthSubject(s) != checked {
			return
		}
		if retry == nil {
			pp.log.Info("broker asked the producer to close; recreating it", slog.Uint64("id", s.id))
		}
		_, err := pp.recover(ctx, s)
		if err == nil || ctx.Err() != nil {
			return
		}
		if !IsRetryable(err) {
			pp.log.Warn("recreating the producer failed; the next send retries", slog.Any("error", err))
			pp.session.CompareAndSwap(s, nil)
			return
		}
		if retry == nil {
			retry = newRetrier(pp.p.client.cfg.clock, pp.p.client.cfg.backoff)
		}
		if retry.wait(ctx, nil) != nil {
			return
		}
	}
}
