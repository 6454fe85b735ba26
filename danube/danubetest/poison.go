package danubetest

import (
	"fmt"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// Attributes the broker adds to a message it moves to a dead-letter topic.
const (
	AttrOriginalTopic        = "x-original-topic"
	AttrOriginalSubscription = "x-original-subscription"
	AttrOriginalTopicOffset  = "x-original-topic-offset"
	AttrOriginalProducerID   = "x-original-producer-id"
	AttrOriginalBrokerAddr   = "x-original-broker-addr"
	AttrPoisonPolicy         = "x-poison-policy"
	AttrDeliveryAttempt      = "x-delivery-attempt"
	AttrFailureReason        = "x-failure-reason"
)

// deadLetter is an exhausted message on its way to the dead-letter topic.
type deadLetter struct {
	p     *pending
	topic string
	msg   *danubepb.StreamMessage
}

// resolveExhaustedLocked applies the poison policy to exhausted messages.
// Drop skips them at once; DeadLetter returns them for publishing outside
// the lock; Block leaves them in place and reports that nothing new may be
// dispatched, except on Key-Shared, where only the message's key stalls.
func (s *subscription) resolveExhaustedLocked() (blocked bool, dead []deadLetter) {
	var drop []*pending
	s.win.each(func(p *pending) bool {
		if p.status != statusRetryExhausted {
			return true
		}
		switch s.policy.Poison {
		case PoisonBlock:
			if s.subType != subKeyShared {
				blocked = true
			}
		case PoisonDrop:
			drop = append(drop, p)
		case PoisonDeadLetter:
			dead = append(dead, deadLetter{
				p:     p,
				topic: s.policy.DeadLetterTopic,
				msg:   s.deadLetterMessageLocked(p),
			})
		}
		return true
	})
	for _, p := range drop {
		s.settleLocked(p)
	}
	return blocked, dead
}

// deadLetterMessageLocked builds the message published to the dead-letter
// topic: the payload and the attributes of p plus attributes naming its
// origin. As on the broker, which republishes through an internal producer,
// schema and routing key are not carried over.
func (s *subscription) deadLetterMessageLocked(p *pending) *danubepb.StreamMessage {
	orig := p.msg
	attrs := make(map[string]string, len(orig.GetAttributes())+8)
	for k, v := range orig.GetAttributes() {
		attrs[k] = v
	}
	attrs[AttrOriginalTopic] = orig.GetMsgId().GetTopicName()
	attrs[AttrOriginalSubscription] = s.name
	attrs[AttrOriginalTopicOffset] = strconv.FormatUint(orig.GetMsgId().GetTopicOffset(), 10)
	attrs[AttrOriginalProducerID] = strconv.FormatUint(orig.GetMsgId().GetProducerId(), 10)
	attrs[AttrOriginalBrokerAddr] = orig.GetMsgId().GetBrokerAddr()
	attrs[AttrPoisonPolicy] = s.policy.Poison.String()
	attrs[AttrDeliveryAttempt] = strconv.FormatUint(uint64(p.attempt), 10)
	if p.hasReason {
		attrs[AttrFailureReason] = p.reason
	}
	return &danubepb.StreamMessage{
		Payload:    orig.GetPayload(),
		Attributes: attrs,
	}
}

// deadLetter publishes exhausted messages and skips those that made it. A
// message whose publish failed stays exhausted and is tried again on the
// next pass.
func (s *subscription) deadLetter(dead []deadLetter) {
	b := s.topic.inst.b
	for _, d := range dead {
		if err := b.publishDeadLetter(d.topic, d.msg); err != nil {
			s.mu.Lock()
			first := !d.p.deadLetterFailed
			d.p.deadLetterFailed = true
			s.mu.Unlock()
			if first {
				b.log.Warn("dead-letter publish failed, retrying on every pass",
					"topic", s.topic.name, "subscription", s.name,
					"offset", d.p.offset, "dead_letter_topic", d.topic, "error", err)
			}
			continue
		}
		s.mu.Lock()
		if s.win.get(d.p.offset) == d.p && d.p.status == statusRetryExhausted {
			s.settleLocked(d.p)
		}
		s.mu.Unlock()
	}
}

// replicator holds the broker's internal producers for dead-letter topics,
// one per topic, named "broker-replicator-<broker id>-<sequence>".
type replicator struct {
	mu        sync.Mutex
	seq       uint64
	producers map[string]*producer
	requestID map[*producer]uint64
}

// publishDeadLetter publishes m to the reliable topic name like a client
// producer would: the topic is created if it is missing and auto-creation
// is on, and it must be reliable.
func (b *Broker) publishDeadLetter(name string, m *danubepb.StreamMessage) error {
	owner, t, err := b.ownerTopic(name)
	if err != nil {
		return err
	}
	if !t.meta.reliable {
		return status.Errorf(codes.FailedPrecondition, "dead-letter topic %s is not reliable", name)
	}

	r := &b.replicator
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.producers[name]
	if p == nil || !p.active.Load() || p.topic != t {
		id, err := t.createProducer(fmt.Sprintf("broker-replicator-%s-%d", b.id, r.seq))
		if err != nil {
			return err
		}
		r.seq++
		p = owner.producer(id)
		if p == nil {
			return status.Errorf(codes.Unavailable, "dead-letter topic %s was unloaded", name)
		}
		if r.producers == nil {
			r.producers = map[string]*producer{}
			r.requestID = map[*producer]uint64{}
		}
		r.producers[name] = p
	}
	r.requestID[p]++

	m.RequestId = r.requestID[p]
	m.PublishTime = uint64(b.clk.Now().UnixMilli())
	m.ProducerName = p.name
	m.MsgId = &danubepb.MsgID{ProducerId: p.id, TopicName: name, BrokerAddr: owner.b.brokerURL}
	return t.publish(p, m)
}

// ownerTopic returns the instance that owns topic name and the loaded
// topic, creating the topic as reliable when it is missing and this broker
// auto-creates topics.
func (b *Broker) ownerTopic(name string) (*instance, *topic, error) {
	if b.md.topic(name) == nil {
		if !b.opts.autoCreate {
			return nil, nil, status.Errorf(codes.NotFound, "topic %s not found", name)
		}
		if _, err := b.md.createTopic(name, true, "", b); err != nil && b.md.topic(name) == nil {
			return nil, nil, err
		}
	}
	meta := b.md.topic(name)
	owner := b.md.ownerOf(meta)
	if owner == nil {
		return nil, nil, status.Errorf(codes.Unavailable, "topic %s has no broker", name)
	}
	inst := owner.instance()
	if inst == nil {
		return nil, nil, status.Errorf(codes.Unavailable, "broker of topic %s is stopped", name)
	}
	t, err := inst.localTopic(name)
	if err != nil {
		return nil, nil, err
	}
	return inst, t, nil
}
