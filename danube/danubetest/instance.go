package danubetest

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

// idleSubscriptionGrace is how long a non-reliable subscription with no
// active consumer lives, checked every half of it.
const idleSubscriptionGrace = 60 * time.Second

// streamWorkers is the number of goroutines each gRPC server keeps to run
// calls on. A call that finds every worker busy gets a fresh goroutine,
// whose stack must grow again, so the pool is sized for many concurrent
// callers rather than for the number of CPUs.
const streamWorkers = 256

// instance is one run of a broker, from start to stop: the servers, the
// loaded topics and the producers and consumers attached to them.
type instance struct {
	b         *Broker
	done      chan struct{}
	stopping  atomic.Bool
	wg        sync.WaitGroup
	clientSrv *grpc.Server
	adminSrv  *grpc.Server

	mu        sync.RWMutex
	topics    map[string]*topic
	producers map[uint64]*producer
	consumers map[uint64]*consumer
}

func newInstance(b *Broker, clientLis, adminLis net.Listener) *instance {
	inst := &instance{
		b:         b,
		done:      make(chan struct{}),
		topics:    map[string]*topic{},
		producers: map[uint64]*producer{},
		consumers: map[uint64]*consumer{},
	}

	serverOpts := []grpc.ServerOption{
		grpc.NumStreamWorkers(streamWorkers),
		grpc.WaitForHandlers(true),
		grpc.ChainUnaryInterceptor(b.unaryInterceptor),
		grpc.ChainStreamInterceptor(b.streamInterceptor),
	}
	inst.clientSrv = grpc.NewServer(serverOpts...)
	inst.adminSrv = grpc.NewServer(serverOpts...)

	danubepb.RegisterProducerServiceServer(inst.clientSrv, &producerService{inst: inst})
	danubepb.RegisterConsumerServiceServer(inst.clientSrv, &consumerService{inst: inst})
	danubepb.RegisterDiscoveryServer(inst.clientSrv, &discoveryService{inst: inst})
	danubepb.RegisterHealthCheckServer(inst.clientSrv, &healthService{inst: inst})
	registry := &schemaService{inst: inst}
	schemapb.RegisterSchemaRegistryServer(inst.clientSrv, registry)
	schemapb.RegisterSchemaRegistryServer(inst.adminSrv, registry)
	admin := &adminService{inst: inst}
	adminpb.RegisterTopicAdminServer(inst.adminSrv, admin)
	adminpb.RegisterNamespaceAdminServer(inst.adminSrv, &namespaceAdminService{inst: inst})
	adminpb.RegisterBrokerAdminServer(inst.adminSrv, &brokerAdminService{inst: inst})
	adminpb.RegisterClusterAdminServer(inst.adminSrv, adminpb.UnimplementedClusterAdminServer{})
	adminpb.RegisterSecurityAdminServer(inst.adminSrv, adminpb.UnimplementedSecurityAdminServer{})

	inst.wg.Add(3)
	go func() {
		defer inst.wg.Done()
		_ = inst.clientSrv.Serve(clientLis)
	}()
	go func() {
		defer inst.wg.Done()
		_ = inst.adminSrv.Serve(adminLis)
	}()
	go func() {
		defer inst.wg.Done()
		inst.reapIdleSubscriptions()
	}()
	return inst
}

// stop ends the run without persisting anything, as a killed broker would.
func (inst *instance) stop() {
	inst.stopping.Store(true)
	close(inst.done)
	inst.clientSrv.Stop()
	inst.adminSrv.Stop()
	inst.wg.Wait()
}

// localTopic returns the topic name when this broker owns it, loading it on
// first use. It fails with NOT_FOUND for an unknown topic and UNAVAILABLE for
// a topic another broker owns.
func (inst *instance) localTopic(name string) (*topic, error) {
	inst.mu.RLock()
	t := inst.topics[name]
	inst.mu.RUnlock()
	if t != nil {
		return t, nil
	}

	md := inst.b.md
	meta := md.topic(name)
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", name)
	}

	inst.mu.Lock()
	defer inst.mu.Unlock()
	if t := inst.topics[name]; t != nil {
		return t, nil
	}
	if md.ownerOf(meta) != inst.b {
		return nil, status.Errorf(codes.Unavailable, "topic %s is served by another broker: redo the lookup", name)
	}
	select {
	case <-inst.done:
		return nil, status.Error(codes.Unavailable, "broker is stopping")
	default:
	}
	t = newTopic(inst, meta)
	inst.topics[name] = t
	return t, nil
}

// loadedTopic returns the topic name if it is loaded on this broker.
func (inst *instance) loadedTopic(name string) *topic {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	return inst.topics[name]
}

// unloadTopic closes the topic name if it is loaded and persists its
// subscription cursors. Its producers and consumers are forgotten, so their
// health checks return CLOSE and their sends fail with NOT_FOUND.
func (inst *instance) unloadTopic(name string) bool {
	inst.mu.Lock()
	t := inst.topics[name]
	delete(inst.topics, name)
	inst.mu.Unlock()
	if t == nil {
		return false
	}

	producers, consumers := t.close()

	inst.mu.Lock()
	for _, id := range producers {
		delete(inst.producers, id)
	}
	for _, id := range consumers {
		delete(inst.consumers, id)
	}
	inst.mu.Unlock()
	return true
}

func (inst *instance) producer(id uint64) *producer {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	return inst.producers[id]
}

func (inst *instance) consumer(id uint64) *consumer {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	return inst.consumers[id]
}

func (inst *instance) addProducer(p *producer) {
	inst.mu.Lock()
	inst.producers[p.id] = p
	inst.mu.Unlock()
}

func (inst *instance) addConsumer(c *consumer) {
	inst.mu.Lock()
	inst.consumers[c.id] = c
	inst.mu.Unlock()
}

func (inst *instance) removeConsumers(ids []uint64) {
	inst.mu.Lock()
	for _, id := range ids {
		delete(inst.consumers, id)
	}
	inst.mu.Unlock()
}

func (inst *instance) loadedTopics() []*topic {
	inst.mu.RLock()
	defer inst.mu.RUnlock()
	ts := make([]*topic, 0, len(inst.topics))
	for _, t := range inst.topics {
		ts = append(ts, t)
	}
	return ts
}

// reapIdleSubscriptions removes non-reliable subscriptions that have had no
// active consumer for longer than idleSubscriptionGrace, checking every half
// of it.
func (inst *instance) reapIdleSubscriptions() {
	ticker := inst.b.clk.NewTicker(idleSubscriptionGrace / 2)
	defer ticker.Stop()
	for {
		select {
		case <-inst.done:
			return
		case <-ticker.C():
		}
		now := inst.b.clk.Now()
		for _, t := range inst.loadedTopics() {
			if !t.meta.reliable {
				inst.removeConsumers(t.reapIdle(now))
			}
		}
	}
}
