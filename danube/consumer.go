package danube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/workpool"
)

// SubscriptionType is the sharing mode of a subscription: the rule that
// picks which of its consumers gets each message. The zero value is Shared,
// the default of the broker's own clients.
type SubscriptionType int

// Subscription types. The consumer that creates a subscription fixes its
// type. The broker accepts later consumers that request another type, and
// they get the existing one.
const (
	// Shared delivers each message to one of the subscription's consumers,
	// round robin.
	Shared SubscriptionType = iota
	// Exclusive admits one consumer name; another name is rejected with
	// ErrPermissionDenied. Messages arrive in offset order.
	Exclusive
	// Failover delivers to the first consumer. The broker (v0.15) does
	// not switch to a standby when that consumer leaves, so a failed
	// consumer must come back under the same name.
	Failover
	// KeyShared delivers all messages of one routing key to the same
	// consumer, optionally restricted by ConsumerOptions.KeyFilters.
	KeyShared
)

func (t SubscriptionType) wire() (danubepb.ConsumerRequest_SubscriptionType, bool) {
	switch t {
	case Shared:
		return danubepb.ConsumerRequest_Shared, true
	case Exclusive:
		return danubepb.ConsumerRequest_Exclusive, true
	case Failover:
		return danubepb.ConsumerRequest_Failover, true
	case KeyShared:
		return danubepb.ConsumerRequest_KeyShared, true
	}
	return 0, false
}

// String returns the type's name.
func (t SubscriptionType) String() string {
	switch t {
	case Shared:
		return "Shared"
	case Exclusive:
		return "Exclusive"
	case Failover:
		return "Failover"
	case KeyShared:
		return "KeyShared"
	}
	return fmt.Sprintf("SubscriptionType(%d)", int(t))
}

// Defaults of ConsumerOptions.
const (
	// DefaultBufferSize is the number of received messages a Consumer
	// buffers ahead of Receive.
	DefaultBufferSize = 1000
	// DefaultAckConcurrency is the number of Ack and Nack calls a Consumer
	// runs at once.
	DefaultAckConcurrency = 128
)

// ConsumerOptions configures NewConsumer.
type ConsumerOptions struct {
	// Topic is the topic to consume, "/namespace/name"; for a partitioned
	// topic the base name, whose partitions are discovered and merged.
	// Required.
	Topic string
	// Subscription names the subscription. Required. A new subscription on
	// a reliable topic starts at the latest message: subscribe before
	// producing.
	Subscription string
	// Name is the consumer name, the same on every partition. A consumer
	// that reconnects under its name takes its place back (and its
	// unacknowledged messages are redelivered). "" means a random unique
	// name.
	Name string
	// Type is the subscription type; the zero value is Shared.
	Type SubscriptionType
	// KeyFilters restricts a KeyShared consumer to routing keys matching
	// one of these globs ('*' and '?'). Empty means every key.
	KeyFilters []string
	// BufferSize is how many received messages wait for Receive. 0 means
	// DefaultBufferSize. A reliable subscription's window on the broker
	// (max_unacked_messages) bounds messages in flight anyway.
	BufferSize int
	// AckConcurrency bounds Ack and Nack calls in flight. 0 means
	// DefaultAckConcurrency.
	AckConcurrency int
	// OnAsyncError is called with the message and the error of an AckAsync
	// or NackAsync whose done callback is nil. It runs as that callback
	// would (see AckAsync) and may make the same calls, Close included. nil
	// means such errors are logged at warning level, the 1st, 2nd, 4th, 8th
	// and so on.
	OnAsyncError func(msg *Message, err error)
	// OnGap is called when an Exclusive or Failover consumer of a reliable
	// topic is delivered an offset beyond the next one it expected: the
	// broker skipped offsets first to last of partition. Broker v0.15.1
	// skips offsets when publishing runs more than 256 messages ahead of a
	// new subscription's consumer, and never delivers them. The
	// consumer also logs each gap at error level (the 1st, 2nd, 4th, 8th
	// and so on). OnGap runs on the partition's receiving goroutine and
	// must return quickly. nil means only the log.
	OnGap func(partition string, first, last uint64)
}

// Consumer receives the messages of one subscription on one topic (all its
// partitions) and acknowledges them. It is safe for concurrent use.
//
// Every partition has its own stream. When a stream ends or fails, the
// consumer subscribes again under the same name after a backoff (taking
// its place back on the broker), and it does the same when the broker's
// health check replies CLOSE. A failure that retrying cannot cure (a
// permission, a deleted topic) stops that partition and is returned once
// by Receive, while the other partitions go on.
//
// Ack and Nack run on their own bounded pool of calls, so acknowledging
// never holds up the streams.
type Consumer struct {
	client *Client
	opts   ConsumerOptions
	wtype  danubepb.ConsumerRequest_SubscriptionType
	log    *slog.Logger

	parts   map[string]*partitionConsumer
	deliver chan delivery
	// stashed holds partition failures that ReceiveBatch took from
	// deliver after it had messages to return; Receive returns them first.
	stashMu   sync.Mutex
	stashed   []error
	acks      *workpool.Pool[ackJob]
	requestID atomic.Uint64
	// asyncFailures counts failed asynchronous acks reported to the log.
	asyncFailures atomic.Uint64
	// gaps counts the runs of skipped offsets found on any partition.
	gaps atomic.Uint64

	life    context.Context
	cancel  context.CancelFunc
	closing chan struct{}
	closed  atomic.Bool
	wg      sync.WaitGroup
}

// delivery is a received message, or the error that stopped a partition.
type delivery struct {
	msg *Message
	err error
}

// NewConsumer discovers the topic's partitions and subscribes to each of
// them under the same consumer name, retrying retryable failures while ctx
// allows. It fails with ErrNoPartitions (NotFound) when no topic of that
// name exists: consumers do not create topics.
func (c *Client) NewConsumer(ctx context.Context, opts ConsumerOptions) (*Consumer, error) {
	wtype, err := checkConsumerOptions(&opts)
	if err != nil {
		return nil, err
	}
	if c.isClosed() {
		return nil, closedError("subscribe", opts.Topic)
	}

	names, err := c.partitionsWithRetry(ctx, opts.Topic)
	if err != nil {
		return nil, err
	}

	life, cancel := context.WithCancel(context.Background())
	cons := &Consumer{
		client:  c,
		opts:    opts,
		wtype:   wtype,
		log:     c.log.With(slog.String("topic", opts.Topic), slog.String("subscription", opts.Subscription), slog.String("consumer", opts.Name)),
		parts:   make(map[string]*partitionConsumer, len(names)),
		deliver: make(chan delivery, opts.BufferSize),
		life:    life,
		cancel:  cancel,
		closing: make(chan struct{}),
	}
	cons.acks = workpool.New(opts.AckConcurrency, cons.runAck, cons.report)
	for _, name := range names {
		cons.parts[name] = newPartitionConsumer(cons, name)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, pc := range cons.parts {
		g.Go(func() error { return pc.subscribeWithRetry(ctx, gctx) })
	}
	if err := g.Wait(); err != nil {
		cons.releaseSubscribed()
		cons.abort()
		return nil, err
	}

	// The goroutines are counted before the consumer is registered: a
	// client Close that finds it registered calls its Close, whose Wait
	// must not race with these Adds.
	cons.wg.Add(2 * len(cons.parts))
	if !c.register(cons) {
		cons.wg.Add(-2 * len(cons.parts))
		cons.abort()
		return nil, closedError("subscribe", opts.Topic)
	}
	for _, pc := range cons.parts {
		go func() {
			defer cons.wg.Done()
			pc.run()
		}()
		go func() {
			defer cons.wg.Done()
			c.runHealth(life, danubepb.HealthCheckRequest_Consumer, pc.topic, pc.healthTarget, pc.onHealthClose)
		}()
	}
	cons.waitStreaming(ctx)
	cons.log.Debug("consumer subscribed", slog.Int("partitions", len(names)))
	return cons, nil
}

// waitStreaming waits until the broker has accepted a stream on every
// partition, for at most the call timeout or until ctx ends. A consumer
// that the broker subscribed but that has no stream yet stays active on the
// broker if it closes, and on a Shared subscription the broker keeps
// sending it messages that only its ack timeout frees. A partition whose
// stream is slow to open does not fail NewConsumer: it keeps trying in the
// background, as after any reconnect.
func (c *Consumer) waitStreaming(ctx context.Context) {
	timer := c.client.cfg.clock.NewTimer(c.client.cfg.callTimeout)
	defer timer.Stop()
	for _, pc := range c.parts {
		select {
		case <-pc.streaming:
		case <-timer.C():
			return
		case <-ctx.Done():
			return
		case <-c.closing: // closed with its client meanwhile
			return
		}
	}
}

func checkConsumerOptions(o *ConsumerOptions) (danubepb.ConsumerRequest_SubscriptionType, error) {
	if err := ValidateTopic(o.Topic); err != nil {
		return 0, err
	}
	bad := func(format string, args ...any) error {
		return localError("subscribe", o.Topic, codes.InvalidArgument, fmt.Errorf(format, args...))
	}

	if o.Subscription == "" {
		return 0, bad("the subscription name is empty")
	}
	wtype, ok := o.Type.wire()
	if !ok {
		return 0, bad("invalid subscription type %v", o.Type)
	}
	if len(o.KeyFilters) > 0 && o.Type != KeyShared {
		return 0, bad("key filters need the KeyShared subscription type, not %v", o.Type)
	}
	if o.BufferSize < 0 || o.AckConcurrency < 0 {
		return 0, bad("BufferSize and AckConcurrency must not be negative")
	}

	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.AckConcurrency == 0 {
		o.AckConcurrency = DefaultAckConcurrency
	}
	if o.Name == "" {
		o.Name = "consumer-" + randomSuffix()
	}
	o.KeyFilters = append([]string(nil), o.KeyFilters...)
	return wtype, nil
}

// releaseSubscribed releases, in parallel, the partitions that subscribed
// before NewConsumer failed on another one.
func (c *Consumer) releaseSubscribed() {
	var wg sync.WaitGroup
	for _, pc := range c.parts {
		wg.Go(pc.release)
	}
	wg.Wait()
}

// gapsTracked reports whether the consumer watches its partitions for
// skipped offsets: only an Exclusive or Failover consumer is delivered
// every offset of a partition.
func (c *Consumer) gapsTracked() bool {
	return c.opts.Type == Exclusive || c.opts.Type == Failover
}

// reportGap logs and reports offsets first to last of partition, which
// the broker skipped.
func (c *Consumer) reportGap(partition string, first, last uint64) {
	if n := c.gaps.Add(1); n&(n-1) == 0 {
		c.log.Error("the broker skipped messages of this subscription; broker v0.15.1 never delivers such messages",
			slog.String("partition", partition), slog.Uint64("first_offset", first), slog.Uint64("last_offset", last),
			slog.Uint64("messages", last-first+1), slog.Uint64("gaps_so_far", n))
	}
	if c.opts.OnGap != nil {
		c.opts.OnGap(partition, first, last)
	}
}

func (c *Consumer) abort() {
	c.closed.Store(true)
	close(c.closing)
	c.cancel()
	c.acks.Close()
}

// Topic returns the topic the consumer reads.
func (c *Consumer) Topic() string { return c.opts.Topic }

// Subscription returns the subscription name.
func (c *Consumer) Subscription() string { return c.opts.Subscription }

// Name returns the consumer name.
func (c *Consumer) Name() string { return c.opts.Name }

// Partitions returns the topics the consumer reads: the topic itself, or
// its partitions.
func (c *Consumer) Partitions() []string {
	names := make([]string, 0, len(c.parts))
	for name := range c.parts {
		names = append(names, name)
	}
	return sortPartitions(names)
}

// Close stops the consumer: Ack and Nack calls already started complete
// and the AckAsync and NackAsync callbacks (done or OnAsyncError) return,
// then every stream and health check stops and every goroutine of the
// consumer has returned. Called from one of those callbacks, Close does
// not wait for it, and that callback's goroutine ends when it returns.
//
// NOTE: Close cannot tell which producer or consumer the callback it is
// called from belongs to. Called from a callback of another one, it may
// return while one callback of this consumer still runs.
//
// Messages received but not acknowledged are redelivered by the broker
// (on a reliable topic). The subscription stays on the broker. It is safe
// to call more than once and always returns nil.
func (c *Consumer) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.closing)
	c.acks.Close()
	c.cancel()
	c.wg.Wait()
	c.client.unregister(c)
	c.log.Debug("consumer closed")
	return nil
}
