package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// The broker's failure policy defaults (v0.15), the base of a policy the
// runtime stores when the subscription has none yet.
var brokerDefaultPolicy = danube.FailurePolicy{
	MaxRedeliveryCount:  5,
	AckTimeout:          30 * time.Second,
	BaseRedeliveryDelay: time.Second,
	MaxRedeliveryDelay:  60 * time.Second,
	Backoff:             danube.ExponentialBackoff,
	PoisonPolicy:        danube.Block,
}

// applyPolicies stores the configured failure policy and dispatch window
// of every route's subscription through the admin API, before the routes
// subscribe: the broker fixes a subscription's policy when it starts. The
// broker keeps them per partition, so they are stored on each partition
// of a partitioned topic. A setting left at zero keeps what the broker
// has.
func (rt *Runtime) applyPolicies(ctx context.Context, client *danube.Client) error {
	pol := rt.cfg.Policy
	if !pol.set() {
		return nil
	}
	admin, err := danube.NewAdmin(pol.AdminURL, rt.cfg.clientOptions()...)
	if err != nil {
		return fmt.Errorf("sink %s: admin: %w", rt.cfg.ConnectorName, err)
	}
	defer admin.Close()

	for _, r := range rt.routes {
		partitions, err := client.Partitions(ctx, r.cfg.Topic)
		if err != nil {
			return fmt.Errorf("sink %s: route %s: %w", rt.cfg.ConnectorName, r.label, err)
		}
		for _, topic := range partitions {
			if err := rt.applyPolicy(ctx, admin, r, topic); err != nil {
				return fmt.Errorf("sink %s: route %s: %w", rt.cfg.ConnectorName, r.label, err)
			}
		}
		rt.log.Info("subscription policy stored", "route", r.label, "partitions", len(partitions),
			"max_redeliveries", pol.MaxRedeliveries, "ack_timeout", pol.AckTimeout,
			"poison_policy", pol.PoisonPolicy, "dispatch_window", pol.DispatchWindow)
	}
	return nil
}

// applyPolicy stores the policy of r's subscription on topic, the route's
// topic or one of its partitions.
func (rt *Runtime) applyPolicy(ctx context.Context, admin *danube.Admin, r *route, topic string) error {
	pol, sub := rt.cfg.Policy, r.cfg.SubscriptionName
	if pol.MaxRedeliveries > 0 || pol.AckTimeout > 0 || pol.PoisonPolicy != "" {
		fp, ok, err := admin.GetFailurePolicy(ctx, topic, sub)
		if err != nil {
			return fmt.Errorf("read the failure policy of %s: %w", topic, err)
		}
		if !ok {
			fp = brokerDefaultPolicy
		}
		if pol.MaxRedeliveries > 0 {
			fp.MaxRedeliveryCount = uint32(pol.MaxRedeliveries)
		}
		if pol.AckTimeout > 0 {
			fp.AckTimeout = pol.AckTimeout
		}
		switch pol.PoisonPolicy {
		case "dead_letter":
			fp.PoisonPolicy, fp.DeadLetterTopic = danube.DeadLetter, r.cfg.DeadLetterTopic
		case "drop":
			fp.PoisonPolicy = danube.Drop
		case "block":
			fp.PoisonPolicy = danube.Block
		}
		if err := admin.SetFailurePolicy(ctx, topic, sub, fp); err != nil {
			return fmt.Errorf("store the failure policy of %s: %w", topic, err)
		}
	}
	if pol.DispatchWindow > 0 {
		err := admin.SetDispatchConfig(ctx, topic, sub, danube.DispatchConfig{MaxUnackedMessages: uint32(pol.DispatchWindow)})
		if err != nil {
			return fmt.Errorf("store the dispatch window of %s: %w", topic, err)
		}
	}
	return nil
}
