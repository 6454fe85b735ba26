package danubetest

import (
	"math"
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

	// The registries below are read on every send and ack, so they are
	// sync.Maps, which read without a lock. loadMu serializes loading and
	// unloading topics.
	loadMu    sync.Mutex
	topics    sync.Map // name → *topic
	producers sync.Map // id → *producer
	consumers sync.Map // id → *consumer
}

func newInstance(b *Broker, clientLis, adminLis net.Listener) *instance {
	inst := &instance{
		b:    b,
		done: make(chan struct{}),
	}

	serverOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(math.MaxInt32), // checkRequestSize applies the broker's limit
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
	if t := inst.loadedTopic(name); t != nil {
		return t, nil
	}

	md := inst.b.md
	meta := md.topic(name)
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", name)
	}

	inst.loadMu.Lock()
	defer inst.loadMu.Unlock()
	if t := inst.loadedTopic(name); t != nil {
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
	t := newTopic(inst, meta)
	inst.topics.Store(name, t)
	return t, nil
}

// loadedTopic returns the topic name if it is loaded on this broker.
func (inst *instance) loadedTopic(name string) *topic {
	if v, ok := inst.topics.Load(name); ok {
		return v.(*topic)
	}
	return nil
}

// unloadTopic closes the topic name if it is loaded and persists its
// subscription cursors. Its producers and consumers are forgotten, so their
// health checks return CLOSE and their sends fail with NOT_FOUND.
func (inst *instance) unloadTopic(name string) bool {
	inst.loadMu.Lock()
	v, ok := inst.topics.LoadAndDelete(name)
	inst.loadMu.Unlock()
	if !ok {
		return false
	}

	producers, consumers := v.(*topic).close()
	for _, id := range producers {
		inst.producers.Delete(id)
	}
	inst.removeConsumers(consumers)
	return true
}

func (inst *instance) producer(id uint64) *producer {
	if v, ok := inst.producers.Load(id); ok {
		return v.(*producer)
	}
	return nil
}

func (inst *instance) consumer(id uint64) *consumer {
	if v, ok := inst.consumers.Load(id); ok {
		return v.(*consumer)
	}
	return nil
}

func (inst *instance) addProducer(p *producer) { inst.producers.Store(p.id, p) }

func (inst *instance) addConsumer(c *consumer) { inst.consumers.Store(c.id, c) }

func (inst *instance) removeConsumers(ids []uint64) {
	for _, id := range ids {
		inst.consumers.Delete(id)
	}
}

func (inst *instance) loadedTopics() []*topic {
	var ts []*topic
	inst.topics.Range(func(_, v any) bool {
		ts = append(ts, v.(*topic))
		return true
	})
	return ts
}

func (inst *instance) allConsumers() []*consumer {
	var cs []*consumer
	inst.consumers.Range(func(_, v any) bool {
		cs = append(cs, v.(*consumer))
		return true
	})
	return cs
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
