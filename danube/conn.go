package danube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

// stubs are the generated clients of one connection.
type stubs struct {
	producer  danubepb.ProducerServiceClient
	consumer  danubepb.ConsumerServiceClient
	discovery danubepb.DiscoveryClient
	health    danubepb.HealthCheckClient
	schema    schemapb.SchemaRegistryClient
}

// brokerConn is the set of connections to one broker address. gRPC dials
// lazily and reconnects by itself, so a brokerConn is kept for the life of
// the Client.
type brokerConn struct {
	addr  string
	conns []*grpc.ClientConn
	stubs []stubs
	next  atomic.Uint32
}

// pick returns the stubs of the next connection, round robin.
func (b *brokerConn) pick() *stubs {
	if len(b.stubs) == 1 {
		return &b.stubs[0]
	}
	return &b.stubs[int(b.next.Add(1))%len(b.stubs)]
}

// connPool holds one brokerConn per broker address, so that every producer
// and consumer of a Client shares the connections to a broker.
type connPool struct {
	dialOpts []grpc.DialOption
	perAddr  int

	mu     sync.Mutex
	conns  map[string]*brokerConn
	closed bool
}

func newConnPool(dialOpts []grpc.DialOption, perAddr int) *connPool {
	return &connPool{dialOpts: dialOpts, perAddr: perAddr, conns: make(map[string]*brokerConn)}
}

// get returns the connections to addr (host:port), creating them on first
// use.
func (p *connPool) get(addr string) (*brokerConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()

	if p.closed {
		return nil, ErrClosed
	}
	if b, ok := p.conns[addr]; ok {
		return b, nil
	}

	b := &brokerConn{addr: addr}
	for range p.perAddr {
		cc, err := grpc.NewClient(addr, p.dialOpts...)
		if err != nil {
			for _, c := range b.conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("create connection to %s: %w", addr, err)
		}
		b.conns = append(b.conns, cc)
		b.stubs = append(b.stubs, stubs{
			producer:  danubepb.NewProducerServiceClient(cc),
			consumer:  danubepb.NewConsumerServiceClient(cc),
			discovery: danubepb.NewDiscoveryClient(cc),
			health:    danubepb.NewHealthCheckClient(cc),
			schema:    schemapb.NewSchemaRegistryClient(cc),
		})
	}
	p.conns[addr] = b
	return b, nil
}

// close closes every connection; later gets fail with ErrClosed.
func (p *connPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()

	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for _, b := range p.conns {
		for _, cc := range b.conns {
			if err := cc.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close connection to %s: %w", b.addr, err))
			}
		}
	}
	return errors.Join(errs...)
}

// route is where the calls for one topic go: the connection to dial (the
// lookup's connect_url) and, when that is a proxy, the owning broker's URL
// to name in the proxy header.
type route struct {
	conn      *brokerConn
	brokerURL string
	proxy     bool
}

// outgoing adds the proxy header to ctx when the route goes through a
// proxy.
func (r *route) outgoing(ctx context.Context) context.Context {
	if !r.proxy {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, proxyHeader, r.brokerURL)
}
