package danubetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
)

// PoisonPolicy is the action a reliable subscription takes on a message
// whose redelivery limit is exhausted.
type PoisonPolicy int

const (
	// PoisonBlock keeps the message in place and dispatches nothing past it,
	// so the subscription stalls. It is the broker's default.
	PoisonBlock PoisonPolicy = iota
	// PoisonDrop skips the message and advances the cursor.
	PoisonDrop
	// PoisonDeadLetter republishes the message to the dead-letter topic, with
	// attributes naming where it came from, then skips it.
	PoisonDeadLetter
)

func (p PoisonPolicy) String() string {
	switch p {
	case PoisonBlock:
		return "block"
	case PoisonDrop:
		return "drop"
	case PoisonDeadLetter:
		return "dead_letter"
	}
	return fmt.Sprintf("PoisonPolicy(%d)", int(p))
}

// FailurePolicy is the redelivery policy of one reliable subscription, as
// the admin calls Get/SetSubscriptionFailurePolicy carry it. A subscription
// takes the policy stored for it when its dispatcher starts. As on the
// broker, which has no live reload, a later change applies from the next
// start: a topic reload or a broker restart.
type FailurePolicy struct {
	// MaxRedeliveries is how many redeliveries a message gets: a nack or ack
	// timeout on delivery attempt MaxRedeliveries+1 exhausts it.
	MaxRedeliveries uint32
	// AckTimeout is how long a delivered message may stay unacknowledged
	// before it is scheduled for redelivery.
	AckTimeout time.Duration
	// BaseDelay is the redelivery delay; with Exponential it doubles with
	// every delivery attempt.
	BaseDelay time.Duration
	// MaxDelay caps every redelivery delay, the requested ones included.
	MaxDelay time.Duration
	// Exponential selects base·2^(attempt-1) over a fixed BaseDelay.
	Exponential bool
	// DeadLetterTopic receives exhausted messages under PoisonDeadLetter.
	DeadLetterTopic string
	// Poison is the action on an exhausted message.
	Poison PoisonPolicy
}

// DefaultFailurePolicy returns the broker's policy for a new subscription:
// 5 redeliveries, a 30 s ack timeout, exponential delays from 1 s up to
// 60 s, and Block.
func DefaultFailurePolicy() FailurePolicy {
	return FailurePolicy{
		MaxRedeliveries: 5,
		AckTimeout:      30 * time.Second,
		BaseDelay:       time.Second,
		MaxDelay:        60 * time.Second,
		Exponential:     true,
		Poison:          PoisonBlock,
	}
}

// redeliveryDelay returns the delay before the next delivery of a message
// delivered attempt times, given a requested delay: the larger of the policy
// delay and the requested one, capped at MaxDelay.
func (p FailurePolicy) redeliveryDelay(attempt uint32, requested time.Duration) time.Duration {
	delay := p.BaseDelay
	if p.Exponential {
		exponent := attempt
		if exponent < 1 {
			exponent = 1
		}
		exponent--
		if exponent > 62 {
			exponent = 62
		}
		delay = saturatingShift(p.BaseDelay, exponent)
	}
	delay = max(delay, requested)
	return min(delay, p.MaxDelay)
}

func saturatingShift(d time.Duration, n uint32) time.Duration {
	for ; n > 0; n-- {
		if d > time.Duration(1<<62) {
			return time.Duration(1<<63 - 1)
		}
		d *= 2
	}
	return d
}

func (p FailurePolicy) validate() error {
	if p.Poison == PoisonDeadLetter && strings.TrimSpace(p.DeadLetterTopic) == "" {
		return fmt.Errorf("dead_letter_topic must be set when poison_policy is DeadLetter")
	}
	return nil
}

func failurePolicyFromProto(m *adminpb.SubscriptionFailurePolicy) (FailurePolicy, error) {
	p := FailurePolicy{
		MaxRedeliveries: m.GetMaxRedeliveryCount(),
		AckTimeout:      time.Duration(m.GetAckTimeoutMs()) * time.Millisecond,
		BaseDelay:       time.Duration(m.GetBaseRedeliveryDelayMs()) * time.Millisecond,
		MaxDelay:        time.Duration(m.GetMaxRedeliveryDelayMs()) * time.Millisecond,
		DeadLetterTopic: m.GetDeadLetterTopic(),
	}
	switch m.GetBackoffStrategy() {
	case adminpb.SubscriptionBackoffStrategy_Fixed:
	case adminpb.SubscriptionBackoffStrategy_Exponential:
		p.Exponential = true
	default:
		return p, fmt.Errorf("invalid backoff_strategy value %d", m.GetBackoffStrategy())
	}
	switch m.GetPoisonPolicy() {
	case adminpb.SubscriptionPoisonPolicy_Block:
		p.Poison = PoisonBlock
	case adminpb.SubscriptionPoisonPolicy_Drop:
		p.Poison = PoisonDrop
	case adminpb.SubscriptionPoisonPolicy_DeadLetter:
		p.Poison = PoisonDeadLetter
	default:
		return p, fmt.Errorf("invalid poison_policy value %d", m.GetPoisonPolicy())
	}
	return p, p.validate()
}

func (p FailurePolicy) proto() *adminpb.SubscriptionFailurePolicy {
	m := &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount:    p.MaxRedeliveries,
		AckTimeoutMs:          uint64(p.AckTimeout / time.Millisecond),
		BaseRedeliveryDelayMs: uint64(p.BaseDelay / time.Millisecond),
		MaxRedeliveryDelayMs:  uint64(p.MaxDelay / time.Millisecond),
		BackoffStrategy:       adminpb.SubscriptionBackoffStrategy_Fixed,
		PoisonPolicy:          adminpb.SubscriptionPoisonPolicy_Block,
	}
	if p.Exponential {
		m.BackoffStrategy = adminpb.SubscriptionBackoffStrategy_Exponential
	}
	switch p.Poison {
	case PoisonDrop:
		m.PoisonPolicy = adminpb.SubscriptionPoisonPolicy_Drop
	case PoisonDeadLetter:
		m.PoisonPolicy = adminpb.SubscriptionPoisonPolicy_DeadLetter
	}
	if p.DeadLetterTopic != "" {
		m.DeadLetterTopic = &p.DeadLetterTopic
	}
	return m
}
