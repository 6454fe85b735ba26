package danube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// maxNotFoundRetries bounds the consecutive NOT_FOUND replies a partition
// tolerates while it resubscribes. During a topic move the topic is briefly
// unknown everywhere; a topic that stays unknown was deleted.
const maxNotFoundRetries = 8

// maxTrackedDeliveries bounds the delivery counts a partition keeps. A
// reliable subscription has at most 10000 messages in flight, so the bound
// is only reached by messages never acknowledged, such as those of a
// non-reliable topic (where acks are optional).
const maxTrackedDeliveries = 20000

// stableStream is how long a stream must have lived, even without
// messages, for its end to count as a new failure rather than the next
// step of the current backoff.
const stableStream = 30 * time.Second

// partitionConsumer reads one topic or partition. Its session (the broker's
// consumer id, the route, and the cancel function of the open stream) is
// replaced as a whole when it subscribes again.
type partitionConsumer struct {
	c     *Consumer
	topic string
	log   *slog.Logger

	session atomic.Pointer[consumerSession]
	route   atomic.Pointer[route] // of the latest session, kept between sessions for acks

	mu       sync.Mutex
	attempts map[deliveryKey]int
	// highest is the highest offset delivered so far, when delivered is
	// true; gaps in the offsets are found against it.
	highest   uint64
	delivered bool

	// streaming is closed once the broker has accepted the partition's
	// first stream, once that first stream failed, or once the partition
	// stopped trying.
	streaming     chan struct{}
	streamingOnce sync.Once
}

// markStreaming closes streaming, once.
func (pc *partitionConsumer) markStreaming() {
	pc.streamingOnce.Do(func() { close(pc.streaming) })
}

type consumerSession struct {
	route route
	id    uint64

	mu     sync.Mutex
	cancel context.CancelCauseFunc // of the open stream, nil when none
	closed bool                    // the broker asked this session to close
}

// requestClose ends the session's stream, or marks the session so that no
// stream is opened on it.
func (s *consumerSession) requestClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.cancel != nil {
		s.cancel(errHealthClose)
	}
}

// deliveryKey identifies one message of a partition across redeliveries:
// its offset on a reliable topic, and the producer's id and request id to
// tell apart the messages of a non-reliable topic (whose offsets are 0).
type deliveryKey struct {
	offset     uint64
	producerID uint64
	requestID  uint64
}

func newPartitionConsumer(c *Consumer, topic string) *partitionConsumer {
	return &partitionConsumer{
		c:         c,
		topic:     topic,
		log:       c.log.With(slog.String("partition", topic)),
		attempts:  make(map[deliveryKey]int),
		streaming: make(chan struct{}),
	}
}

// subscribe looks the partition up and subscribes on the broker that
// serves it, once.
func (pc *partitionConsumer) subscribe(ctx context.Context) (*consumerSession, error) {
	c := pc.c.client
	r, err := c.lookup(ctx, pc.topic)
	if err != nil {
		return nil, err
	}

	resp, err := r.conn.pick().consumer.Subscribe(r.outgoing(ctx), &danubepb.ConsumerRequest{
		RequestId:        pc.c.requestID.Add(1),
		TopicName:        pc.topic,
		ConsumerName:     pc.c.opts.Name,
		Subscription:     pc.c.opts.Subscription,
		SubscriptionType: pc.c.wtype,
		KeyFilters:       pc.c.opts.KeyFilters,
	})
	if err != nil {
		return nil, newError("subscribe", pc.topic, err)
	}
	pc.route.Store(&r)
	return &consumerSession{route: r, id: resp.GetConsumerId()}, nil
}

// subscribeWithRetry is the first subscription, retried with backoff while
// the failure is retryable and ctx allows. The waits between attempts also
// end when another partition gave up and cancelled group. An attempt runs
// on ctx alone, because a Subscribe cut short after the broker took it
// would leave a consumer on the broker that release cannot find.
func (pc *partitionConsumer) subscribeWithRetry(ctx, group context.Context) error {
	var retry *retrier
	for {
		if group.Err() != nil {
			return contextError(group, "subscribe", pc.topic, nil)
		}
		s, err := pc.subscribe(ctx)
		if err == nil {
			pc.session.Store(s)
			return nil
		}
		if !IsRetryable(err) {
			return err
		}
		if retry == nil {
			retry = newRetrier(pc.c.client.cfg.clock, pc.c.client.cfg.backoff)
		}
		if retry.wait(group, nil) != nil {
			return contextError(group, "subscribe", pc.topic, err)
		}
	}
}

// release makes the broker give up the consumer of a subscription that
// will not be read: NewConsumer failed on another partition. The broker
// keeps a subscribed consumer active until its stream ends, and a Shared
// subscription would send it messages that only the ack timeout frees,
// each expiry counting as a redelivery. So release opens the stream, waits
// until the broker attached it, and ends it: the broker then marks the
// consumer inactive and gives what it sent it to the others. It is best
// effort, bounded by the call timeout.
func (pc *partitionConsumer) release() {
	s := pc.session.Load()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pc.c.client.cfg.callTimeout)
	defer cancel()
	_, err := pc.openStream(ctx, s)
	if err != nil {
		pc.c.log.Warn("could not release the subscription of a consumer that failed to start; "+
			"the broker frees it after the ack timeout",
			slog.String("partition", pc.topic), slog.Any("error", err))
	}
}

// run reads the partition until the consumer closes or a failure that
// retrying cannot cure, which it reports through Receive.
func (pc *partitionConsumer) run() {
	defer pc.markStreaming()
	c := pc.c
	ctx := c.life
	clk := c.client.cfg.clock
	retry := newRetrier(clk, c.client.cfg.backoff)
	notFound := 0
	reconnecting := false

	for {
		s := pc.session.Load()
		if s == nil {
			var err error
			s, err = pc.subscribe(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if !pc.retryable(err, &notFound) {
					pc.giveUp(err)
					return
				}
				if !reconnecting {
					reconnecting = true
					pc.log.Warn("resubscribing failed; retrying with backoff", slog.Any("error", err))
				}
				if retry.wait(ctx, nil) != nil {
					return
				}
				continue
			}
			pc.session.Store(s)
			if reconnecting {
				reconnecting = false
				pc.log.Info("partition subscribed again", slog.Uint64("consumer_id", s.id))
			}
		}

		opened := clk.Now()
		received, err := pc.receive(ctx, s)
		// A first stream that failed does not hold NewConsumer any longer:
		// the partition reconnects in the background from here on.
		pc.markStreaming()
		if ctx.Err() != nil {
			return
		}
		if received > 0 || clk.Since(opened) >= stableStream {
			// The stream worked: the next failure starts a fresh backoff.
			retry.reset()
			notFound = 0
		}
		pc.session.CompareAndSwap(s, nil)

		if errors.Is(err, errHealthClose) {
			pc.log.Info("broker asked the consumer to close; subscribing again", slog.Uint64("consumer_id", s.id))
			continue
		}
		if err != nil && !pc.retryable(err, &notFound) {
			pc.giveUp(newError("receive", pc.topic, err))
			return
		}
		if !reconnecting {
			reconnecting = true
			pc.log.Warn("partition stream ended; subscribing again with backoff", slog.Any("error", err))
		}
		if retry.wait(ctx, nil) != nil {
			return
		}
	}
}

// retryable reports whether a partition should subscribe again after err,
// counting consecutive NOT_FOUND replies.
func (pc *partitionConsumer) retryable(err error, notFound *int) bool {
	code := codeOf(err)
	if code == codes.NotFound {
		*notFound++
		return *notFound <= maxNotFoundRetries
	}
	*notFound = 0
	// With a TokenSupplier the next attempt calls it for a new token, so
	// UNAUTHENTICATED (an expired token, or the supplier failing for a
	// while) may pass. A static token would only be rejected again.
	if code == codes.Unauthenticated && pc.c.client.cfg.supplier != nil {
		return true
	}
	return retryableCode(code) || code == codes.Canceled || code == codes.Internal
}

// giveUp reports the failure that stopped the partition to Receive.
func (pc *partitionConsumer) giveUp(err error) {
	pc.log.Error("partition stopped", slog.Any("error", err))
	select {
	case pc.c.deliver <- delivery{err: err}:
	case <-pc.c.life.Done():
	}
}

// receive opens the stream of session s and passes its messages on until
// it ends. It returns the number of messages received, and the error that
// ended the stream: nil when the broker ended it, errHealthClose when the
// health check did.
func (pc *partitionConsumer) receive(parent context.Context, s *consumerSession) (int, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, errHealthClose
	}
	s.cancel = cancel
	s.mu.Unlock()

	stream, err := pc.openStream(ctx, s)
	if err != nil {
		return 0, pc.streamError(ctx, err)
	}
	pc.markStreaming()

	n := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			if codeOf(err) == codes.ResourceExhausted {
				return n, pc.tooLarge(err)
			}
			return n, pc.streamError(ctx, err)
		}
		n++
		d := delivery{msg: pc.message(m)}
		select {
		case pc.c.deliver <- d:
		case <-ctx.Done():
			return n, pc.streamError(ctx, ctx.Err())
		}
	}
}

// streamError maps the end of a stream: the health check's cause when it
// cancelled the stream, nil for a clean end by the broker.
func (pc *partitionConsumer) streamError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errHealthClose) {
		return errHealthClose
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// tooLarge returns the failure of a stream that delivered a message over
// the client's receive limit, which stops the partition. gRPC fails Recv
// with RESOURCE_EXHAUSTED when a message exceeds the limit, and the broker
// never ends a ReceiveMessages stream with that code, so the code
// identifies the case. Subscribing again is no cure: the broker would
// deliver the same message again, and the partition would loop on it.
func (pc *partitionConsumer) tooLarge(err error) error {
	limit := pc.c.client.cfg.maxReceive
	return localError("receive", pc.topic, codes.OutOfRange, fmt.Errorf(
		"%w: the broker delivered a message over this client's limit of %d bytes; raise the limit with WithMaxReceiveMessageSize: %w",
		ErrMessageTooLarge, limit, err))
}

// message converts a delivered message and counts its delivery.
func (pc *partitionConsumer) message(m *danubepb.StreamMessage) *Message {
	id := m.GetMsgId()
	msg := &Message{
		Payload:      m.GetPayload(),
		Attributes:   m.GetAttributes(),
		RoutingKey:   m.GetRoutingKey(),
		PublishTime:  fromMillis(m.GetPublishTime()),
		ProducerName: m.GetProducerName(),
		ID: MessageID{
			ProducerID: id.GetProducerId(),
			Topic:      id.GetTopicName(),
			BrokerAddr: id.GetBrokerAddr(),
			Offset:     id.GetTopicOffset(),
		},
		requestID: m.GetRequestId(),
		receiver:  pc.c,
	}
	if m.SchemaId != nil {
		msg.HasSchema = true
		msg.SchemaID = m.GetSchemaId()
		msg.SchemaVersion = m.GetSchemaVersion()
	}
	if msg.ID.Topic == "" {
		msg.ID.Topic = pc.topic
	}

	key := msg.deliveryKey()
	pc.mu.Lock()
	if len(pc.attempts) >= maxTrackedDeliveries {
		// NOTE: forgetting every count restarts them at 1; only consumers
		// that leave many messages unacknowledged get here.
		clear(pc.attempts)
	}
	pc.attempts[key]++
	msg.DeliveryAttempt = pc.attempts[key]
	first, last, gap := pc.trackOffsetLocked(msg.ID.Offset)
	pc.mu.Unlock()

	if gap {
		pc.c.reportGap(pc.topic, first, last)
	}
	return msg
}

// maxWindow is the largest dispatch window the broker accepts: a
// redelivery is never more than this many offsets below the highest one
// delivered.
const maxWindow = 10000

// trackOffsetLocked records a delivered offset and returns the skipped
// offsets first to last when it is beyond the next one expected. Offsets
// of a reliable topic are contiguous (0, 1, 2, …), and the broker delivers
// them in order apart from redeliveries. An offset at or below the highest
// is a redelivery. One more than maxWindow below it means the broker started
// the topic's offsets again (broker v0.15.1 does so after a restart), and
// the count starts over from it. A non-reliable topic's offsets are all 0
// and never make a gap.
func (pc *partitionConsumer) trackOffsetLocked(offset uint64) (first, last uint64, gap bool) {
	if !pc.c.gapsTracked() {
		return 0, 0, false
	}
	switch {
	case !pc.delivered || offset+maxWindow < pc.highest:
		pc.delivered = true
		pc.highest = offset
	case offset > pc.highest+1:
		first, last, gap = pc.highest+1, offset-1, true
		pc.highest = offset
	case offset > pc.highest:
		pc.highest = offset
	}
	return first, last, gap
}

// forget drops the delivery count of an acknowledged message.
func (pc *partitionConsumer) forget(msg *Message) {
	pc.mu.Lock()
	delete(pc.attempts, msg.deliveryKey())
	pc.mu.Unlock()
}

func (s *consumerSession) healthAddress() (route, uint64) { return s.route, s.id }

func (pc *partitionConsumer) healthTarget() healthSubject {
	if s := pc.session.Load(); s != nil {
		return s
	}
	return nil
}

// onHealthClose ends the stream of the session the broker asked to close,
// if it is still the partition's; run then subscribes again.
func (pc *partitionConsumer) onHealthClose(checked healthSubject) {
	if s := pc.session.Load(); s != nil && healthSubject(s) == checked {
		s.requestClose()
	}
}

// openStream opens the ReceiveMessages stream of session s and returns it
// once the broker has attached it to the consumer, which the broker
// signals by sending the stream's headers. Until then a consumer that
// closes leaves the broker with an active consumer and no stream, so
// NewConsumer waits for this point.
func (pc *partitionConsumer) openStream(ctx context.Context, s *consumerSession) (grpc.ServerStreamingClient[danubepb.StreamMessage], error) {
	stream, err := s.route.conn.pick().consumer.ReceiveMessages(s.route.outgoing(ctx), &danubepb.ReceiveRequest{
		RequestId:  pc.c.requestID.Add(1),
		ConsumerId: s.id,
	})
	if err != nil {
		return nil, err
	}
	if _, err := stream.Header(); err != nil {
		return nil, err
	}
	return stream, nil
}
