package danubetest

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NewCluster starts n brokers that share one cluster's metadata. Each topic
// is owned by one of them, a lookup on another broker returns Redirect, and
// MoveTopic hands a topic over. Topics a producer creates belong to the
// broker it asked. opts apply to every broker. The caller must Close every
// broker.
func NewCluster(n int, opts ...Option) ([]*Broker, error) {
	if n < 1 {
		return nil, fmt.Errorf("invalid cluster size %d: must be at least 1", n)
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if n > 1 && (o.addr != "" || o.adminAddr != "") {
		return nil, fmt.Errorf("invalid options for a cluster of %d brokers: WithAddr and WithAdminAddr would give every broker the same address; leave them unset", n)
	}
	md := newMetadata(o.namespaces)
	brokers := make([]*Broker, 0, n)
	closeAll := func() {
		for _, b := range brokers {
			b.Close()
		}
	}
	for i := 0; i < n; i++ {
		b, err := newBroker(o, md)
		if err != nil {
			closeAll()
			return nil, err
		}
		brokers = append(brokers, b)
		if err := b.start(); err != nil {
			closeAll()
			return nil, err
		}
	}
	return brokers, nil
}

// StartCluster is NewCluster for tests: it fails t if a broker cannot start
// and closes them all when t ends.
func StartCluster(t testing.TB, n int, opts ...Option) []*Broker {
	t.Helper()
	brokers, err := NewCluster(n, opts...)
	if err != nil {
		t.Fatalf("start danube test cluster: %v", err)
	}
	t.Cleanup(func() {
		for _, b := range brokers {
			b.Close()
		}
	})
	return brokers
}

// ErrTopicNotFound is returned by the topic fault injections for a topic
// that does not exist.
var ErrTopicNotFound = errors.New("danubetest: topic not found")

// ErrNotOwner is returned by UnloadTopic, DrainTopic and MoveTopic called
// on a broker that does not own the topic.
var ErrNotOwner = errors.New("danubetest: topic owned by another broker")

// CreateTopic creates a topic owned by b, as the admin call CreateTopic
// does. It fails for an invalid name, a missing namespace or a name
// conflict, with the status the admin call returns.
func (b *Broker) CreateTopic(name string, reliable bool) error {
	return b.createTopic(name, reliable, "")
}

// CreateNamespace creates a namespace, as the admin call does. It reports
// false if the namespace already existed.
func (b *Broker) CreateNamespace(name string) bool {
	return b.md.createNamespace(name)
}

func (b *Broker) ownedTopic(name string) (*topicMeta, error) {
	meta := b.md.topic(name)
	if meta == nil {
		return nil, fmt.Errorf("%w: %s", ErrTopicNotFound, name)
	}
	if b.md.ownerOf(meta) != b {
		return nil, fmt.Errorf("%w: %s", ErrNotOwner, name)
	}
	return meta, nil
}

// DrainTopic starts unloading a topic without finishing: from now on its
// sends fail with PERMISSION_DENIED while its producers and consumers still
// exist. UnloadTopic or MoveTopic finishes the unload.
func (b *Broker) DrainTopic(name string) error {
	if _, err := b.ownedTopic(name); err != nil {
		return err
	}
	inst := b.instance()
	if inst == nil {
		return nil
	}
	t, err := inst.localTopic(name)
	if err != nil {
		return err
	}
	t.draining.Store(true)
	return nil
}

// UnloadTopic unloads a topic as the broker does before it moves it:
// subscription cursors are persisted, consumer streams end, and the
// topic's producers and consumers are forgotten, so their health checks
// return CLOSE and sends with their old producer ids fail with NOT_FOUND.
// The topic stays with b and loads again on next use; producers and
// consumers must be created again and get new ids.
func (b *Broker) UnloadTopic(name string) error {
	if _, err := b.ownedTopic(name); err != nil {
		return err
	}
	if inst := b.instance(); inst != nil {
		inst.unloadTopic(name)
	}
	return nil
}

// MoveTopic unloads a topic from b and hands it to the broker to of the
// same cluster, which serves it from then on with its messages, cursors and
// policies. Lookups on b return Redirect to to.
func (b *Broker) MoveTopic(name string, to *Broker) error {
	if to.md != b.md {
		return fmt.Errorf("move topic %s: the brokers are not in one cluster", name)
	}
	meta, err := b.ownedTopic(name)
	if err != nil {
		return err
	}
	b.md.setOwner(meta, to)
	if inst := b.instance(); inst != nil {
		inst.unloadTopic(name)
	}
	return nil
}

// DropReceiveStreams ends every ReceiveMessages stream with UNAVAILABLE, as
// a network failure would: the consumers turn inactive and their
// unacknowledged reliable messages are due for redelivery. The consumers
// remain, so a new stream or a Subscribe with the same name resumes them.
func (b *Broker) DropReceiveStreams() {
	inst := b.instance()
	if inst == nil {
		return
	}
	for _, c := range inst.allConsumers() {
		if c.drop(status.Error(codes.Unavailable, "stream dropped by fault injection")) {
			c.sub.streamEnded(c)
		}
	}
}
