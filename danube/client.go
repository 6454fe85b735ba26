package danube

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// Client is a connection to a Danube cluster through one service URL. It
// creates producers and consumers, and gives access to the schema registry.
//
// A Client keeps one set of connections per broker address for its whole
// life and shares it among all its producers and consumers; a lookup whose
// connect_url is the service address reuses the service connection. It is
// safe for concurrent use. Close it when done: Close closes every producer
// and consumer it created.
type Client struct {
	cfg         config
	serviceURL  string
	serviceAddr string
	pool        *connPool
	service     *brokerConn
	log         *slog.Logger
	requestID   atomic.Uint64
	schemas     *SchemaRegistry

	mu      sync.Mutex
	closed  bool
	closers map[closer]struct{}
}

// closer is a producer or consumer that the Client closes on Close.
type closer interface{ Close() error }

// NewClient returns a Client for the broker at serviceURL: "host:port",
// "http://host:port" or "https://host:port". The scheme does not select
// TLS: WithTLS, WithMutualTLS, WithToken and WithTokenSupplier do.
//
// NewClient does not contact the broker; the first call does. It fails
// only on an invalid URL or option.
func NewClient(serviceURL string, opts ...Option) (*Client, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, localError("new client", "", codes.InvalidArgument, err)
	}
	addr, err := brokerAddress(serviceURL)
	if err != nil {
		return nil, localError("new client", "", codes.InvalidArgument, err)
	}

	pool := newConnPool(cfg.dialOptions(), cfg.conns)
	service, err := pool.get(addr)
	if err != nil {
		return nil, localError("new client", "", codes.InvalidArgument, err)
	}

	c := &Client{
		cfg:         cfg,
		serviceURL:  serviceURL,
		serviceAddr: addr,
		pool:        pool,
		service:     service,
		log:         cfg.logger.With(slog.String("service_url", addr)),
		closers:     make(map[closer]struct{}),
	}
	c.schemas = newSchemaRegistry(c)
	return c, nil
}

// Close closes every producer and consumer of the Client, then its
// connections. Later calls on the Client fail with ErrClosed. It is safe to
// call more than once.
//
// Close may be called from a callback of a producer or consumer, which is
// a SendAsync, AckAsync or NackAsync done callback or OnAsyncError. It then
// waits for the other calls and callbacks in flight, but not for the
// callback it is called from.
//
// NOTE: Close cannot tell which producer or consumer that callback belongs
// to, so it may also return while one callback of each of the others
// still runs.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	children := make([]closer, 0, len(c.closers))
	for ch := range c.closers {
		children = append(children, ch)
	}
	c.mu.Unlock()

	var errs []error
	for _, ch := range children {
		if err := ch.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.pool.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// register records a producer or consumer for Close; it fails once the
// Client is closed.
func (c *Client) register(ch closer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closers[ch] = struct{}{}
	return true
}

func (c *Client) unregister(ch closer) {
	c.mu.Lock()
	delete(c.closers, ch)
	c.mu.Unlock()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) nextRequestID() uint64 { return c.requestID.Add(1) }

// serviceRoute is the route to the service URL, used for lookups and when
// a lookup cannot name an owner.
func (c *Client) serviceRoute() route { return route{conn: c.service} }

// lookup asks the service broker which broker serves topic and returns the
// route to it. A NOT_FOUND answer means the topic does not exist yet (or is
// being assigned); the route is then the service URL, where a producer's
// create call will create the topic. Every other failure is returned.
func (c *Client) lookup(ctx context.Context, topic string) (route, error) {

	resp, err := c.service.pick().discovery.TopicLookup(ctx, &danubepb.TopicLookupRequest{
		RequestId: c.nextRequestID(),
		Topic:     topic,
	})
	if err != nil {
		if codeOf(err) == codes.NotFound {
			return c.serviceRoute(), nil
		}
		return route{}, newError("lookup", topic, err)
	}

	if resp.GetResponseType() == danubepb.TopicLookupResponse_Failed {
		return route{}, localError("lookup", topic, codes.Unavailable, ErrLookupFailed)
	}

	target := resp.GetConnectUrl()
	if target == "" {
		target = resp.GetBrokerUrl()
	}
	if target == "" {
		return c.serviceRoute(), nil
	}
	addr, err := brokerAddress(target)
	if err != nil {
		return route{}, localError("lookup", topic, codes.Internal, err)
	}
	conn, err := c.pool.get(addr)
	if err != nil {
		return route{}, localError("lookup", topic, codes.Canceled, err)
	}
	return route{conn: conn, brokerURL: resp.GetBrokerUrl(), proxy: resp.GetProxy() && resp.GetBrokerUrl() != ""}, nil
}

// Partitions returns the topics that make up topic, as a Consumer reads
// them: topic itself for a non-partitioned topic, its partitions
// (topic-part-0, …) in index order for a partitioned one. It fails with
// ErrNoPartitions (NotFound) when neither exists, and retries retryable
// failures while ctx allows. Per-partition admin settings, such as the
// failure policy, need these names.
func (c *Client) Partitions(ctx context.Context, topic string) ([]string, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if c.isClosed() {
		return nil, closedError("topic partitions", topic)
	}
	return c.partitionsWithRetry(ctx, topic)
}

// partitions returns the topics that make up topic: [topic] for a
// non-partitioned topic, its partitions in index order for a partitioned
// one. The broker answers with every topic whose name starts with topic,
// so unrelated topics that merely share the prefix (/ns/orders_v2 for
// /ns/orders) are filtered out here.
func (c *Client) partitions(ctx context.Context, topic string) ([]string, error) {

	resp, err := c.service.pick().discovery.TopicPartitions(ctx, &danubepb.TopicLookupRequest{
		RequestId: c.nextRequestID(),
		Topic:     topic,
	})
	if err != nil {
		return nil, newError("topic partitions", topic, err)
	}

	type part struct {
		name  string
		index int
	}
	var parts []part
	for _, name := range resp.GetPartitions() {
		if name == topic {
			return []string{topic}, nil
		}
		base, i, ok := SplitPartition(name)
		if ok && base == topic {
			parts = append(parts, part{name, i})
		}
	}
	if len(parts) == 0 {
		return nil, localError("topic partitions", topic, codes.NotFound, ErrNoPartitions)
	}

	sort.Slice(parts, func(a, b int) bool { return parts[a].index < parts[b].index })
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	return names, nil
}

// partitionsWithRetry discovers the partitions, retrying retryable
// failures while ctx allows.
func (c *Client) partitionsWithRetry(ctx context.Context, topic string) (names []string, err error) {
	err = c.retrying(ctx, "topic partitions", topic, func() error {
		names, err = c.partitions(ctx, topic)
		return err
	})
	return names, err
}

// retrying calls fn until it succeeds or fails with an error that is not
// retryable, waiting with backoff between attempts. When ctx ends first it
// returns contextError, with the last failure.
func (c *Client) retrying(ctx context.Context, op, topic string, fn func() error) error {
	var retry *retrier
	for {
		err := fn()
		if err == nil || !IsRetryable(err) {
			return err
		}
		if retry == nil {
			retry = newRetrier(c.cfg.clock, c.cfg.backoff)
		}
		if retry.wait(ctx, nil) != nil {
			return contextError(ctx, op, topic, err)
		}
	}
}
