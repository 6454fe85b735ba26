package danubetest

import (
	"bytes"
	"maps"
	"sort"
	"strconv"
	"time"
)

// Message is a published message as the broker stored it.
type Message struct {
	// Offset is the topic offset on a reliable topic, and the publish
	// index on a non-reliable one, whose messages carry no offset.
	Offset uint64
	// ProducerID is the broker-assigned id of the producer that published
	// the message, and ProducerName the name it attached with.
	ProducerID   uint64
	ProducerName string
	// RequestID is the id the producer gave the send call that stored
	// the message. Each attempt of a retried send has an id of its own.
	RequestID uint64
	// Payload and Attributes are copies of the message's body and
	// attributes. Attributes is nil when the message had none.
	Payload    []byte
	Attributes map[string]string
	// RoutingKey is empty when the message had none.
	RoutingKey string
	// SchemaID and SchemaVersion are the schema the producer declared,
	// both 0 when the message had none.
	SchemaID      uint64
	SchemaVersion uint32
	// PublishTime is the time the producer stamped, to the millisecond.
	PublishTime time.Time
}

// Messages returns copies of the messages published to topic, in publish
// order, nil for an unknown topic. A dead-letter topic is an ordinary topic. Unlike
// the broker, the test broker also records the messages of non-reliable
// topics, for inspection only; they are never delivered again.
func (b *Broker) Messages(topic string) []Message {
	meta := b.md.topic(topic)
	if meta == nil {
		return nil
	}
	stored := meta.log.snapshot()
	out := make([]Message, len(stored))
	for i, m := range stored {
		out[i] = Message{
			Offset:        uint64(i),
			ProducerID:    m.GetMsgId().GetProducerId(),
			ProducerName:  m.GetProducerName(),
			RequestID:     m.GetRequestId(),
			Payload:       bytes.Clone(m.GetPayload()),
			Attributes:    maps.Clone(m.GetAttributes()),
			RoutingKey:    m.GetRoutingKey(),
			SchemaID:      m.GetSchemaId(),
			SchemaVersion: m.GetSchemaVersion(),
			PublishTime:   time.UnixMilli(int64(m.GetPublishTime())),
		}
	}
	return out
}

// SubscriptionType is the type of a subscription, numbered as on the wire.
type SubscriptionType int32

// Subscription types.
const (
	Exclusive SubscriptionType = SubscriptionType(subExclusive)
	Shared    SubscriptionType = SubscriptionType(subShared)
	Failover  SubscriptionType = SubscriptionType(subFailover)
	KeyShared SubscriptionType = SubscriptionType(subKeyShared)
)

func (t SubscriptionType) String() string {
	switch t {
	case Exclusive:
		return "Exclusive"
	case Shared:
		return "Shared"
	case Failover:
		return "Failover"
	case KeyShared:
		return "KeyShared"
	}
	return "SubscriptionType(" + strconv.Itoa(int(t)) + ")"
}

// SubscriptionState is a snapshot of a subscription for assertions.
type SubscriptionState struct {
	// Type is the subscription's type, as its first consumer chose it.
	Type SubscriptionType
	// Loaded reports whether the subscription is running on the broker;
	// when false only the stored fields below are set.
	Loaded bool
	// Cursor is the highest offset up to which every message is
	// acknowledged or skipped, -1 when unknown.
	Cursor int64
	// PersistedCursor is the cursor as stored, where a restarted broker
	// resumes, -1 when none was stored.
	PersistedCursor int64
	// Window is the in-flight window of a running reliable subscription.
	Window int
	// Policy is the failure policy of a running reliable subscription.
	Policy FailurePolicy
	// Pending lists the unacknowledged messages of a reliable
	// subscription in offset order.
	Pending []PendingEntry
	// Consumers lists the consumers of a running subscription in the
	// order they first subscribed, active or not.
	Consumers []ConsumerState
}

// PendingEntry is an unacknowledged message of a reliable subscription.
type PendingEntry struct {
	// Offset is the message's position in the topic.
	Offset uint64
	// Attempts is the number of deliveries so far.
	Attempts uint32
	// Status is one of sending, awaiting_ack, waiting_to_retry,
	// retry_exhausted and key_blocked.
	Status string
	// AckDeadline is when an awaiting_ack message times out.
	AckDeadline time.Time
	// RetryAt is when a waiting_to_retry message is due.
	RetryAt time.Time
	// Reason is the last failure reason: the nack reason or "ack timeout".
	Reason string
	// Consumer is the name of the consumer it was sent to, if any.
	Consumer string
}

// ConsumerState describes a consumer of a subscription.
type ConsumerState struct {
	// ID is the broker-assigned id of the consumer.
	ID uint64
	// Name is the consumer name it subscribed with.
	Name string
	// Active reports whether a stream is attached to the consumer. A
	// consumer whose stream dropped stays listed, inactive, until a
	// stream opens again under its name.
	Active bool
}

// Subscription returns the state of subscription sub of topic, and false
// if the cluster has no such subscription.
func (b *Broker) Subscription(topic, sub string) (SubscriptionState, bool) {
	md := b.md
	meta := md.topic(topic)
	if meta == nil {
		return SubscriptionState{}, false
	}
	sm := md.subscription(meta, sub, subTypeUnset, false)
	if sm == nil {
		return SubscriptionState{}, false
	}
	md.mu.Lock()
	st := SubscriptionState{Type: SubscriptionType(max(sm.subType, 0)), Cursor: sm.cursor, PersistedCursor: sm.cursor}
	if sm.policy != nil {
		st.Policy = *sm.policy
	}
	md.mu.Unlock()

	s := b.loadedSubscription(topic, sub)
	if s == nil {
		return st, true
	}
	st.Loaded = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reliable {
		st.Cursor = s.cursor
		st.Window = s.window
		st.Policy = s.policy
		s.win.each(func(p *pending) bool {
			e := PendingEntry{
				Offset:      p.offset,
				Attempts:    p.attempt,
				Status:      p.statusName(),
				AckDeadline: p.ackDeadline,
				RetryAt:     p.retryAt,
				Reason:      p.reason,
			}
			if p.target != nil {
				e.Consumer = p.target.name
			}
			st.Pending = append(st.Pending, e)
			return true
		})
	}
	for _, c := range s.consumers {
		st.Consumers = append(st.Consumers, ConsumerState{ID: c.id, Name: c.name, Active: c.active.Load()})
	}
	return st, true
}

// DeliveryCount returns how many times the running reliable subscription
// sub of topic has delivered the message at offset since the broker last
// loaded the topic.
func (b *Broker) DeliveryCount(topic, sub string, offset uint64) uint32 {
	s := b.loadedSubscription(topic, sub)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries[offset]
}

// Consumers returns the consumers of every running subscription of topic,
// by subscription name.
func (b *Broker) Consumers(topic string) map[string][]ConsumerState {
	inst := b.instance()
	if inst == nil {
		return nil
	}
	t := inst.loadedTopic(topic)
	if t == nil {
		return nil
	}
	out := map[string][]ConsumerState{}
	for _, s := range t.subscriptions() {
		s.mu.Lock()
		for _, c := range s.consumers {
			out[s.name] = append(out[s.name], ConsumerState{ID: c.id, Name: c.name, Active: c.active.Load()})
		}
		s.mu.Unlock()
	}
	return out
}

// ProducerState describes a producer attached to a topic.
type ProducerState struct {
	// ID is the broker-assigned id of the producer.
	ID uint64
	// Name is the producer name it attached with.
	Name string
}

// Producers returns the producers attached to topic on b, sorted by name,
// nil while the topic is not loaded on b. Producers attach with
// CreateProducer and go away only when the topic unloads.
func (b *Broker) Producers(topic string) []ProducerState {
	inst := b.instance()
	if inst == nil {
		return nil
	}
	t := inst.loadedTopic(topic)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := make([]ProducerState, 0, len(t.producers))
	for _, p := range t.producers {
		out = append(out, ProducerState{ID: p.id, Name: p.name})
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Topics returns the names of all topics of the cluster, sorted.
func (b *Broker) Topics() []string {
	b.md.mu.Lock()
	defer b.md.mu.Unlock()
	names := make([]string, 0, len(b.md.topics))
	for n := range b.md.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (b *Broker) loadedSubscription(topic, sub string) *subscription {
	inst := b.instance()
	if inst == nil {
		return nil
	}
	t := inst.loadedTopic(topic)
	if t == nil {
		return nil
	}
	return t.subscriptionNamed(sub)
}
