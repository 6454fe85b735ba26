package danube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
)

// Admin is a client of the broker's admin API (port 50051 by default),
// which is separate from the client port. It creates namespaces and
// topics, and sets the per-subscription failure policy and dispatch
// window. It accepts the same options as NewClient (TLS, token, call
// timeout); it is safe for concurrent use.
type Admin struct {
	cfg        config
	conn       *grpc.ClientConn
	namespaces adminpb.NamespaceAdminClient
	topics     adminpb.TopicAdminClient
	closed     atomic.Bool
}

// NewAdmin returns an Admin for the admin endpoint adminURL ("host:port",
// with or without http:// or https://). It does not contact the broker.
func NewAdmin(adminURL string, opts ...Option) (*Admin, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, localError("new admin", "", codes.InvalidArgument, err)
	}
	addr, err := brokerAddress(adminURL)
	if err != nil {
		return nil, localError("new admin", "", codes.InvalidArgument, err)
	}
	conn, err := grpc.NewClient(addr, cfg.dialOptions()...)
	if err != nil {
		return nil, localError("new admin", "", codes.InvalidArgument, fmt.Errorf("create connection to %s: %w", addr, err))
	}
	return &Admin{
		cfg:        cfg,
		conn:       conn,
		namespaces: adminpb.NewNamespaceAdminClient(conn),
		topics:     adminpb.NewTopicAdminClient(conn),
	}, nil
}

// Close closes the connection; later calls fail with ErrClosed. It is safe
// to call more than once.
func (a *Admin) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	return a.conn.Close()
}

// fail returns the error of a failed call: ErrClosed when the Admin was
// closed while the call was in flight, else the broker's error.
func (a *Admin) fail(op, target string, err error) error {
	if a.closed.Load() {
		return closedError(op, target)
	}
	return newError(op, target, err)
}

func (a *Admin) call(ctx context.Context, op, target string, fn func(context.Context) (bool, error)) error {
	if a.closed.Load() {
		return closedError(op, target)
	}
	ok, err := fn(ctx)
	if err != nil {
		return a.fail(op, target, err)
	}
	if !ok {
		return localError(op, target, codes.Unknown, ErrRejected)
	}
	return nil
}

// CreateNamespace creates namespace name (without slashes). A topic's
// namespace must exist before a producer creates the topic.
func (a *Admin) CreateNamespace(ctx context.Context, name string) error {
	name = strings.Trim(name, "/")
	if name == "" || strings.Contains(name, "/") {
		return localError("create namespace", name, codes.InvalidArgument, fmt.Errorf("invalid namespace %q: want one segment such as \"default\"", name))
	}
	return a.call(ctx, "create namespace", name, func(ctx context.Context) (bool, error) {
		resp, err := a.namespaces.CreateNamespace(ctx, &adminpb.NamespaceRequest{Name: name})
		return resp.GetSuccess(), err
	})
}

// TopicOptions are the properties of a topic fixed at creation.
type TopicOptions struct {
	// Reliable selects the reliable dispatch strategy; see
	// ProducerOptions.Reliable.
	Reliable bool
	// SchemaSubject assigns a registered schema subject to the topic; ""
	// means none.
	SchemaSubject string
}

func (o TopicOptions) strategy() adminpb.DispatchStrategy {
	if o.Reliable {
		return adminpb.DispatchStrategy_Reliable
	}
	return adminpb.DispatchStrategy_NonReliable
}

func (o TopicOptions) subject() *string {
	if o.SchemaSubject == "" {
		return nil
	}
	return &o.SchemaSubject
}

// CreateTopic creates a non-partitioned topic. The broker's admin port
// (v0.15.1) returns NOT_FOUND (ErrNotFound) for every refused creation
// and gives the reason only in the message: the topic exists, a topic
// whose name starts with this name exists, or the schema subject is
// unknown. The same holds for CreatePartitionedTopic and CreateNamespace.
func (a *Admin) CreateTopic(ctx context.Context, topic string, opts TopicOptions) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	return a.call(ctx, "create topic", topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.CreateTopic(ctx, &adminpb.NewTopicRequest{
			Name:             topic,
			SchemaSubject:    opts.subject(),
			DispatchStrategy: opts.strategy(),
		})
		return resp.GetSuccess(), err
	})
}

// CreatePartitionedTopic creates the partitions topic-part-0 …
// topic-part-(partitions-1).
func (a *Admin) CreatePartitionedTopic(ctx context.Context, topic string, partitions int, opts TopicOptions) error {
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	if partitions < 1 || partitions > maxPartitions {
		return localError("create partitioned topic", topic, codes.InvalidArgument,
			fmt.Errorf("invalid partition count %d: want 1 to %d", partitions, maxPartitions))
	}
	return a.call(ctx, "create partitioned topic", topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.CreatePartitionedTopic(ctx, &adminpb.PartitionedTopicRequest{
			BaseName:         topic,
			Partitions:       uint32(partitions),
			SchemaSubject:    opts.subject(),
			DispatchStrategy: opts.strategy(),
		})
		return resp.GetSuccess(), err
	})
}

// DeleteTopic deletes a topic or one partition.
func (a *Admin) DeleteTopic(ctx context.Context, topic string) error {
	if err := validateTopicOrPartition(topic); err != nil {
		return err
	}
	return a.call(ctx, "delete topic", topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.DeleteTopic(ctx, &adminpb.TopicRequest{Name: topic})
		return resp.GetSuccess(), err
	})
}

// UnloadTopic unloads a topic or one partition from its broker, and the
// cluster assigns it again. The health check then replies CLOSE to its
// producers and consumers, which recreate themselves on the new owner. A
// cluster rejects an unload when no other broker could take the topic
// (ErrFailedPrecondition). A standalone broker cannot unload at all and
// returns UNIMPLEMENTED.
func (a *Admin) UnloadTopic(ctx context.Context, topic string) error {
	if err := validateTopicOrPartition(topic); err != nil {
		return err
	}
	return a.call(ctx, "unload topic", topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.UnloadTopic(ctx, &adminpb.TopicRequest{Name: topic})
		return resp.GetSuccess(), err
	})
}

// PoisonPolicy is the action a reliable subscription takes on a message
// that exhausted its redeliveries.
type PoisonPolicy int

// Poison policies, with the broker's values. Block is the broker's
// default.
const (
	// DeadLetter republishes the message to the dead-letter topic, then
	// moves on.
	DeadLetter PoisonPolicy = 0
	// Block stops the subscription at the message until an operator acts.
	Block PoisonPolicy = 1
	// Drop skips the message.
	Drop PoisonPolicy = 2
)

// RedeliveryBackoff is the growth rule of the delay between redeliveries.
type RedeliveryBackoff int

// Redelivery backoffs, with the broker's values. Exponential is the
// broker's default.
const (
	FixedBackoff       RedeliveryBackoff = 0
	ExponentialBackoff RedeliveryBackoff = 1
)

// FailurePolicy is a reliable subscription's handling of unacknowledged
// and nacked messages. The broker's defaults are 5 redeliveries, a 30 s ack
// timeout, delays from 1 s to 60 s growing exponentially, and Block.
type FailurePolicy struct {
	// MaxRedeliveryCount is how many redeliveries a message gets before
	// the poison policy applies.
	MaxRedeliveryCount uint32
	// AckTimeout is how long a delivered message may stay unacknowledged
	// before it is redelivered.
	AckTimeout time.Duration
	// BaseRedeliveryDelay and MaxRedeliveryDelay bound the delay before a
	// redelivery.
	BaseRedeliveryDelay time.Duration
	MaxRedeliveryDelay  time.Duration
	// Backoff is the growth rule of the delay from one redelivery to the
	// next. Its zero value is FixedBackoff, not the broker's default.
	Backoff RedeliveryBackoff
	// DeadLetterTopic receives exhausted messages under DeadLetter, which
	// requires it.
	DeadLetterTopic string
	// PoisonPolicy is the action on a message that exhausted its
	// redeliveries. Its zero value is DeadLetter, not the broker's
	// default Block.
	PoisonPolicy PoisonPolicy
}

func (p FailurePolicy) toProto() *adminpb.SubscriptionFailurePolicy {
	out := &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount:    p.MaxRedeliveryCount,
		AckTimeoutMs:          uint64(p.AckTimeout.Milliseconds()),
		BaseRedeliveryDelayMs: uint64(p.BaseRedeliveryDelay.Milliseconds()),
		MaxRedeliveryDelayMs:  uint64(p.MaxRedeliveryDelay.Milliseconds()),
		BackoffStrategy:       adminpb.SubscriptionBackoffStrategy(p.Backoff),
		PoisonPolicy:          adminpb.SubscriptionPoisonPolicy(p.PoisonPolicy),
	}
	if p.DeadLetterTopic != "" {
		out.DeadLetterTopic = &p.DeadLetterTopic
	}
	return out
}

func failurePolicyFromProto(p *adminpb.SubscriptionFailurePolicy) FailurePolicy {
	return FailurePolicy{
		MaxRedeliveryCount:  p.GetMaxRedeliveryCount(),
		AckTimeout:          time.Duration(p.GetAckTimeoutMs()) * time.Millisecond,
		BaseRedeliveryDelay: time.Duration(p.GetBaseRedeliveryDelayMs()) * time.Millisecond,
		MaxRedeliveryDelay:  time.Duration(p.GetMaxRedeliveryDelayMs()) * time.Millisecond,
		Backoff:             RedeliveryBackoff(p.GetBackoffStrategy()),
		DeadLetterTopic:     p.GetDeadLetterTopic(),
		PoisonPolicy:        PoisonPolicy(p.GetPoisonPolicy()),
	}
}

func checkSubscription(op, topic, subscription string) error {
	if err := validateTopicOrPartition(topic); err != nil {
		return err
	}
	if subscription == "" {
		return localError(op, topic, codes.InvalidArgument, errors.New("the subscription name is empty"))
	}
	return nil
}

// SetFailurePolicy stores the failure policy of a subscription on a
// reliable topic. Each partition of a partitioned topic has its own policy,
// so set it on every partition. The broker rejects it on a non-reliable topic
// (ErrFailedPrecondition). A running subscription keeps the policy it
// started with: set the policy before the first consumer subscribes.
func (a *Admin) SetFailurePolicy(ctx context.Context, topic, subscription string, policy FailurePolicy) error {
	const op = "set failure policy"
	if err := checkSubscription(op, topic, subscription); err != nil {
		return err
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"AckTimeout", policy.AckTimeout},
		{"BaseRedeliveryDelay", policy.BaseRedeliveryDelay},
		{"MaxRedeliveryDelay", policy.MaxRedeliveryDelay},
	} {
		if d.value < 0 {
			return localError(op, topic, codes.InvalidArgument, fmt.Errorf("invalid %s %v: it must not be negative", d.name, d.value))
		}
	}
	if policy.PoisonPolicy == DeadLetter && policy.DeadLetterTopic == "" {
		return localError(op, topic, codes.InvalidArgument, errors.New("the DeadLetter poison policy needs a dead-letter topic"))
	}
	if policy.DeadLetterTopic != "" {
		if err := ValidateTopic(policy.DeadLetterTopic); err != nil {
			return err
		}
	}
	return a.call(ctx, op, topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.SetSubscriptionFailurePolicy(ctx, &adminpb.SetSubscriptionFailurePolicyRequest{
			Topic:         topic,
			Subscription:  subscription,
			FailurePolicy: policy.toProto(),
		})
		return resp.GetSuccess(), err
	})
}

// GetFailurePolicy returns the failure policy stored for a subscription;
// ok is false when none is stored.
func (a *Admin) GetFailurePolicy(ctx context.Context, topic, subscription string) (policy FailurePolicy, ok bool, err error) {
	const op = "get failure policy"
	if err := checkSubscription(op, topic, subscription); err != nil {
		return FailurePolicy{}, false, err
	}
	if a.closed.Load() {
		return FailurePolicy{}, false, closedError(op, topic)
	}
	resp, err := a.topics.GetSubscriptionFailurePolicy(ctx, &adminpb.GetSubscriptionFailurePolicyRequest{Topic: topic, Subscription: subscription})
	if err != nil {
		return FailurePolicy{}, false, a.fail(op, topic, err)
	}
	if resp.FailurePolicy == nil {
		return FailurePolicy{}, false, nil
	}
	return failurePolicyFromProto(resp.FailurePolicy), true, nil
}

// DispatchConfig is a reliable subscription's dispatch setting.
type DispatchConfig struct {
	// MaxUnackedMessages is the window: how many messages the broker
	// sends ahead of acknowledgements, across the subscription's
	// consumers. The broker accepts 1 to 10000; its default is 10, which
	// limits throughput to about ten round trips' worth of messages.
	MaxUnackedMessages uint32
}

// SetDispatchConfig stores the dispatch configuration of a subscription.
func (a *Admin) SetDispatchConfig(ctx context.Context, topic, subscription string, cfg DispatchConfig) error {
	const op = "set dispatch config"
	if err := checkSubscription(op, topic, subscription); err != nil {
		return err
	}
	if cfg.MaxUnackedMessages < 1 || cfg.MaxUnackedMessages > 10000 {
		return localError(op, topic, codes.InvalidArgument, fmt.Errorf("invalid MaxUnackedMessages %d: want 1 to 10000", cfg.MaxUnackedMessages))
	}
	return a.call(ctx, op, topic, func(ctx context.Context) (bool, error) {
		resp, err := a.topics.SetSubscriptionDispatchConfig(ctx, &adminpb.SetSubscriptionDispatchConfigRequest{
			Topic:          topic,
			Subscription:   subscription,
			DispatchConfig: &adminpb.SubscriptionDispatchConfig{MaxUnackedMessages: cfg.MaxUnackedMessages},
		})
		return resp.GetSuccess(), err
	})
}

// GetDispatchConfig returns the dispatch configuration stored for a
// subscription; ok is false when none is stored (the broker's default
// applies).
func (a *Admin) GetDispatchConfig(ctx context.Context, topic, subscription string) (cfg DispatchConfig, ok bool, err error) {
	const op = "get dispatch config"
	if err := checkSubscription(op, topic, subscription); err != nil {
		return DispatchConfig{}, false, err
	}
	if a.closed.Load() {
		return DispatchConfig{}, false, closedError(op, topic)
	}
	resp, err := a.topics.GetSubscriptionDispatchConfig(ctx, &adminpb.GetSubscriptionDispatchConfigRequest{Topic: topic, Subscription: subscription})
	if err != nil {
		return DispatchConfig{}, false, a.fail(op, topic, err)
	}
	if resp.DispatchConfig == nil {
		return DispatchConfig{}, false, nil
	}
	return DispatchConfig{MaxUnackedMessages: resp.DispatchConfig.GetMaxUnackedMessages()}, true, nil
}
