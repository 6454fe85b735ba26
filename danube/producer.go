package danube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/workpool"
)

// DefaultMaxInFlight is the number of sends a Producer runs at once when
// ProducerOptions.MaxInFlight is 0. Each message is one unary call, so
// throughput comes from many calls in flight; see the benchmarks.
const DefaultMaxInFlight = 256

// DefaultRecoveryTimeout is how long one send keeps recreating its
// producer after NOT_FOUND or PERMISSION_DENIED when
// ProducerOptions.RecoveryTimeout is 0.
const DefaultRecoveryTimeout = 30 * time.Second

// maxPartitions bounds ProducerOptions.Partitions, to catch a unit mistake
// before it opens thousands of producers.
const maxPartitions = 10000

// ProducerOptions configures NewProducer.
type ProducerOptions struct {
	// Topic is the topic to publish to, "/namespace/name". Required. For a
	// partitioned topic it is the base name, without "-part-N".
	Topic string
	// Name is the producer name. Distinct producers on a topic need
	// distinct names: the broker gives a second producer with the same
	// name the first one's identity. "" means a random unique name. Each
	// partition's producer is named Name-i.
	Name string
	// Reliable selects the reliable dispatch strategy (messages stored
	// and redelivered until acked) instead of non-reliable (in memory,
	// dropped for slow consumers). It must match the topic's strategy,
	// which is fixed when the topic is created (by the first producer, or
	// by the admin API); a mismatch fails with ErrFailedPrecondition.
	Reliable bool
	// Schema names a registered schema subject to declare on every message.
	// nil means none.
	Schema *SchemaReference
	// Partitions is the number of partitions of a partitioned topic: the
	// producer publishes to Topic-part-0 … Topic-part-(Partitions-1),
	// creating them as needed. 0 means a non-partitioned topic. The broker
	// stores no partition count, so every producer of a topic must agree
	// on it.
	Partitions int
	// MaxInFlight bounds how many sends run at once, across Send and
	// SendAsync. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// RecoveryTimeout bounds how long one send goes on recreating the
	// producer after the broker returned NOT_FOUND or PERMISSION_DENIED,
	// counted from the first such error. A topic that is moving or
	// draining returns them for a while, a lasting rejection (a schema
	// rule, a missing permission) for good, and the codes do not tell the
	// two apart. The send then fails with the broker's last error. 0
	// means DefaultRecoveryTimeout, and the caller's context may end the
	// send sooner.
	RecoveryTimeout time.Duration
}

// SchemaReference names the schema a producer declares: the latest version
// of Subject, a pinned version, or at least a minimum version. Pinned and
// MinVersion are exclusive; both zero means the latest.
type SchemaReference struct {
	// Subject is the registered schema subject. Required.
	Subject string
	// PinnedVersion, when not 0, declares that version of Subject. The
	// producer is not created when the subject has no such version.
	PinnedVersion uint32
	// MinVersion, when not 0, declares the latest version of Subject,
	// which must be MinVersion or later, or the producer is not created.
	MinVersion uint32
}

// Producer publishes messages to one topic (all partitions of a partitioned
// one). It is safe for concurrent use.
//
// Each message is one unary call, acknowledged by the broker when it
// returns. Send blocks for that acknowledgement; SendAsync returns at once
// and reports it to a callback, with at most MaxInFlight sends running.
// Failed sends are retried with exponential backoff while the caller's
// context allows: UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED
// as they come; NOT_FOUND and PERMISSION_DENIED after the producer was
// recreated (the topic may have moved to another broker, or be draining),
// for up to RecoveryTimeout. A retried send may be stored twice: the
// broker does not deduplicate.
//
// A health check every 5 s (WithHealthCheckInterval) recreates the
// producer when the broker asks it to close.
type Producer struct {
	client    *Client
	topic     string
	name      string
	strategy  danubepb.DispatchStrategy
	schemaRef *danubepb.SchemaReference
	schemaID  *uint64
	schemaVer *uint32
	parts     []*partitionProducer
	router    *router
	recovery  time.Duration // ProducerOptions.RecoveryTimeout
	pool      *workpool.Pool[sendJob]
	log       *slog.Logger

	life    context.Context
	cancel  context.CancelFunc
	closing chan struct{}
	closed  atomic.Bool
	wg      sync.WaitGroup
}

type sendJob struct {
	ctx  context.Context
	msg  Message
	done func(error)
}

// NewProducer creates the producer on the broker (one per partition),
// after a lookup of the topic's owner, retrying retryable failures while
// ctx allows. A schema reference is resolved to a schema id and version
// once, here. The broker creates a missing topic, but not a missing
// namespace: it replies UNAVAILABLE, which is retried until ctx ends, so
// create namespaces first (Admin.CreateNamespace).
func (c *Client) NewProducer(ctx context.Context, opts ProducerOptions) (*Producer, error) {
	if err := checkProducerOptions(&opts); err != nil {
		return nil, err
	}
	if c.isClosed() {
		return nil, closedError("create producer", opts.Topic)
	}

	life, cancel := context.WithCancel(context.Background())
	p := &Producer{
		client:   c,
		topic:    opts.Topic,
		name:     opts.Name,
		strategy: danubepb.DispatchStrategy_NonReliable,
		router:   newRouter(max(opts.Partitions, 1)),
		recovery: opts.RecoveryTimeout,
		log:      c.log.With(slog.String("topic", opts.Topic), slog.String("producer", opts.Name)),
		life:     life,
		cancel:   cancel,
		closing:  make(chan struct{}),
	}
	if opts.Reliable {
		p.strategy = danubepb.DispatchStrategy_Reliable
	}
	p.pool = workpool.New(opts.MaxInFlight, p.runJob, p.reportJob)

	if err := p.resolveSchema(ctx, opts.Schema); err != nil {
		p.abort()
		return nil, err
	}

	if opts.Partitions == 0 {
		p.parts = []*partitionProducer{newPartitionProducer(p, opts.Topic, opts.Name)}
	} else {
		for i := range opts.Partitions {
			p.parts = append(p.parts, newPartitionProducer(p, PartitionName(opts.Topic, i), fmt.Sprintf("%s-%d", opts.Name, i)))
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, pp := range p.parts {
		g.Go(func() error { return pp.createWithRetry(gctx) })
	}
	if err := g.Wait(); err != nil {
		p.abort()
		return nil, err
	}

	// Counted before registration, as in NewConsumer: a client Close
	// may close the producer as soon as it is registered.
	p.wg.Add(len(p.parts))
	if !c.register(p) {
		p.wg.Add(-len(p.parts))
		p.abort()
		return nil, closedError("create producer", opts.Topic)
	}
	for _, pp := range p.parts {
		go func() {
			defer p.wg.Done()
			c.runHealth(life, danubepb.HealthCheckRequest_Producer, pp.topic, pp.healthTarget, pp.onHealthClose)
		}()
	}
	p.log.Debug("producer created", slog.Int("partitions", opts.Partitions))
	return p, nil
}

func checkProducerOptions(o *ProducerOptions) error {
	if err := ValidateTopic(o.Topic); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return localError("create producer", o.Topic, codes.InvalidArgument, fmt.Errorf(format, args...))
	}
	if o.Partitions < 0 || o.Partitions > maxPartitions {
		return bad("invalid partition count %d: want 0 (not partitioned) to %d", o.Partitions, maxPartitions)
	}
	if o.MaxInFlight < 0 {
		return bad("invalid MaxInFlight %d: want 0 (default) or more", o.MaxInFlight)
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.RecoveryTimeout < 0 {
		return bad("invalid RecoveryTimeout %v: want 0 (default) or more", o.RecoveryTimeout)
	}
	if o.RecoveryTimeout == 0 {
		o.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if s := o.Schema; s != nil {
		if s.Subject == "" {
			return bad("invalid schema reference: the subject is empty")
		}
		if s.PinnedVersion != 0 && s.MinVersion != 0 {
			return bad("invalid schema reference: PinnedVersion and MinVersion are exclusive")
		}
	}
	if o.Name == "" {
		o.Name = "producer-" + randomSuffix()
	}
	return nil
}

// randomSuffix returns 16 random hex digits for generated names.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// abort releases what a failed NewProducer started.
func (p *Producer) abort() {
	p.closed.Store(true)
	close(p.closing)
	p.cancel()
	p.pool.Close()
}

// Topic returns the topic the producer publishes to.
func (p *Producer) Topic() string { return p.topic }

// Name returns the producer name (partition producers add "-i").
func (p *Producer) Name() string { return p.name }

// Send publishes msg and waits for the broker's acknowledgement, retrying
// as described on Producer while ctx allows. It blocks while MaxInFlight
// sends are running. It is safe to call from many goroutines; calls from
// one goroutine are stored in call order.
func (p *Producer) Send(ctx context.Context, msg Message) error {
	if err := p.pool.Acquire(ctx); err != nil {
		return p.acquireError(ctx, err)
	}
	defer p.pool.Release()
	return p.send(ctx, &msg)
}

// SendAsync publishes msg without waiting: done is called with nil once
// the broker acknowledged it or with the error that ended its retries.
// ctx bounds the whole send, retries included, and must stay valid until
// done runs. SendAsync blocks while MaxInFlight sends are running. If ctx
// ends or the producer closes meanwhile, done is called with that error,
// on the caller's goroutine, before SendAsync returns. nil done discards
// the outcome.
//
// Otherwise done runs on a goroutine of the producer, after the send has
// freed its slot, so a running done does not count against MaxInFlight.
// done may call any method of this producer (Send, SendAsync, Flush and
// Close included), of its Client (Close included), and of other producers
// and consumers. Flush and Close wait for running done callbacks, except
// the one they are called from, so a done that blocks holds them up. They
// recognize that callback only on its own goroutine: done must not wait
// for a goroutine of its own that calls them.
//
// Messages sent with SendAsync may be stored out of order, since several
// are in flight at once.
func (p *Producer) SendAsync(ctx context.Context, msg Message, done func(error)) {
	if err := p.pool.Submit(ctx, sendJob{ctx: ctx, msg: msg, done: done}); err != nil {
		if done != nil {
			done(p.acquireError(ctx, err))
		}
	}
}

// runJob sends one SendAsync message. If there is a done callback, the
// pool then calls reportJob, after the send's slot is free.
func (p *Producer) runJob(j sendJob) (report bool, err error) {
	err = p.send(j.ctx, &j.msg)
	return j.done != nil, err
}

func (p *Producer) reportJob(j sendJob, err error) { j.done(err) }

func (p *Producer) acquireError(ctx context.Context, err error) error {
	if errors.Is(err, workpool.ErrClosed) {
		return closedError("send", p.topic)
	}
	return contextError(ctx, "send", p.topic, nil)
}

func (p *Producer) send(ctx context.Context, msg *Message) error {
	if p.closed.Load() {
		return closedError("send", p.topic)
	}
	pp := p.parts[p.router.partition(msg.RoutingKey)]
	return pp.send(ctx, msg)
}

// Flush waits until every send started before it (and any started while it
// waits) has completed and its done callback has returned, or ctx ends.
// Called from a done callback, Flush does not wait for that callback. The
// NOTE on Close applies to Flush too.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.pool.Wait(ctx); err != nil {
		return contextError(ctx, "flush", p.topic, nil)
	}
	return nil
}

// Close stops the producer: new sends fail with ErrClosed, sends in flight
// finish their current attempt (a send that would retry fails with
// ErrClosed instead), and the health checks stop. Close waits for the
// SendAsync sends in flight and their done callbacks, not for blocking
// Send calls. Called from a done callback of this producer, Close does not
// wait for that callback, whose goroutine ends when it returns.
//
// NOTE: Close cannot tell which producer or consumer the callback it is
// called from belongs to. Called from a callback of another one, it may
// return while one done callback of this producer still runs.
//
// Call Flush first to wait for every send to complete normally. The broker
// keeps its side of the producer until the topic is unloaded; there is no
// close call in the protocol. It is safe to call more than once and always
// returns nil.
func (p *Producer) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(p.closing)
	p.cancel()
	p.pool.Close()
	p.wg.Wait()
	p.client.unregister(p)
	p.log.Debug("producer closed")
	return nil
}

func (p *Producer) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}
