package danubetest

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// topic is a topic loaded on the broker that owns it.
type topic struct {
	inst     *instance
	meta     *topicMeta
	name     string
	draining atomic.Bool

	// index is a copy of subs that publishes, acks and nacks read without
	// the lock.
	index atomic.Pointer[subIndex]

	mu        sync.Mutex
	closed    bool
	producers map[string]*producer
	subs      map[string]*subscription
}

type subIndex struct {
	list   []*subscription
	byName map[string]*subscription
}

// producer is a producer attached to a topic. A producer lives until its
// topic is unloaded; there is no call to close one.
type producer struct {
	id     uint64
	name   string
	topic  *topic
	active atomic.Bool
}

func newTopic(inst *instance, meta *topicMeta) *topic {
	t := &topic{
		inst:      inst,
		meta:      meta,
		name:      meta.name,
		producers: map[string]*producer{},
		subs:      map[string]*subscription{},
	}
	t.index.Store(&subIndex{})
	return t
}

// createProducer attaches a producer named name, or returns the id of the
// producer of that name already attached.
func (t *topic) createProducer(name string) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, status.Errorf(codes.Unavailable, "topic %s is being unloaded: redo the lookup", t.name)
	}
	if p := t.producers[name]; p != nil {
		return p.id, nil
	}
	p := &producer{id: rand.Uint64(), name: name, topic: t}
	p.active.Store(true)
	t.producers[name] = p
	t.inst.addProducer(p)
	return p.id, nil
}

// publish stores or dispatches m, sent by p.
func (t *topic) publish(p *producer, m *danubepb.StreamMessage) error {
	if t.draining.Load() {
		return status.Errorf(codes.PermissionDenied, "unable to publish the message: topic %s is draining or closed, redo the lookup", t.name)
	}
	if p.topic != t || !p.active.Load() {
		return status.Errorf(codes.PermissionDenied, "unable to publish the message: producer %d is not attached to topic %s", p.id, t.name)
	}
	if err := t.inst.b.validateSchema(t.meta, m); err != nil {
		return err
	}

	subs := t.index.Load().list
	if t.meta.reliable {
		t.meta.log.append(m)
		for _, s := range subs {
			s.notify()
		}
		return nil
	}

	t.meta.log.record(m)
	now := time.Time{}
	for _, s := range subs {
		if !s.dispatchNonReliable(m) {
			if now.IsZero() {
				now = t.inst.b.clk.Now()
			}
			s.markIdle(now)
		}
	}
	return nil
}

// subscribe attaches a consumer to a subscription, creating the
// subscription when it is new. A consumer name already attached to the
// subscription takes over its consumer.
func (t *topic) subscribe(req *danubepb.ConsumerRequest) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, status.Errorf(codes.Unavailable, "topic %s is being unloaded: redo the lookup", t.name)
	}

	s := t.subs[req.GetSubscription()]
	if s != nil {
		if c := s.consumerNamed(req.GetConsumerName()); c != nil {
			s.takeover(c)
			return c.id, nil
		}
	} else {
		var err error
		s, err = newSubscription(t, req.GetSubscription(), int32(req.GetSubscriptionType()))
		if err != nil {
			return 0, err
		}
		t.subs[s.name] = s
		t.publishSubList()
	}

	if s.subType == subExclusive && s.consumerCount() > 0 {
		return 0, status.Errorf(codes.PermissionDenied,
			"not able to subscribe to topic %s: consumer %s is not allowed, the exclusive subscription %s can't be shared",
			t.name, req.GetConsumerName(), s.name)
	}
	c := newConsumer(s, req.GetConsumerName(), req.GetKeyFilters())
	s.addConsumer(c)
	t.inst.addConsumer(c)
	return c.id, nil
}

func (t *topic) publishSubList() {
	idx := &subIndex{byName: make(map[string]*subscription, len(t.subs))}
	for name, s := range t.subs {
		idx.list = append(idx.list, s)
		idx.byName[name] = s
	}
	t.index.Store(idx)
}

func (t *topic) subscriptionNamed(name string) *subscription {
	return t.index.Load().byName[name]
}

func (t *topic) subscriptions() []*subscription {
	return t.index.Load().list
}

// close unloads the topic: publishes fail from now on, producers detach,
// subscription cursors are persisted, dispatchers stop and consumer streams
// end. It returns the ids of the producers and consumers it detached.
func (t *topic) close() (producers, consumers []uint64) {
	t.draining.Store(true)

	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, p := range t.producers {
		p.active.Store(false)
		producers = append(producers, p.id)
	}
	for _, s := range t.subs {
		consumers = append(consumers, s.close()...)
	}
	return producers, consumers
}

// reapIdle removes the non-reliable subscriptions that have been idle for
// longer than idleSubscriptionGrace at now, and returns the ids of their
// consumers.
func (t *topic) reapIdle(now time.Time) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var removed []uint64
	for name, s := range t.subs {
		if !s.idleLongerThan(now, idleSubscriptionGrace) {
			continue
		}
		removed = append(removed, s.close()...)
		delete(t.subs, name)
		t.inst.b.md.deleteSubscription(t.meta, name)
	}
	if removed != nil {
		t.publishSubList()
	}
	return removed
}
