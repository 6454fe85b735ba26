package sink

import (
	"fmt"
	"strings"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// SubscriptionType is the sharing mode of a route's subscription. The
// zero value means the default: Config's type for a Route, Exclusive for
// Config.
type SubscriptionType string

// Subscription types, as the broker names them.
const (
	// Exclusive admits one consumer, which receives every message in
	// order: the choice for one process that must keep order.
	Exclusive SubscriptionType = "Exclusive"
	// Shared spreads messages over the subscription's consumers, round
	// robin, without order: the choice to scale out.
	Shared SubscriptionType = "Shared"
	// Failover delivers to one consumer at a time, in order.
	Failover SubscriptionType = "Failover"
	// KeyShared delivers all messages of a routing key to the same
	// consumer, in order per key.
	KeyShared SubscriptionType = "KeyShared"
)

// UnmarshalText reads a type by its name in any case, with or without a
// '_' or '-' inside: key_shared and Key-Shared both name KeyShared.
func (t *SubscriptionType) UnmarshalText(text []byte) error {
	norm := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(string(text))))
	for _, known := range []SubscriptionType{Exclusive, Shared, Failover, KeyShared} {
		if norm == strings.ToLower(string(known)) {
			*t = known
			return nil
		}
	}
	return fmt.Errorf("must be Exclusive, Shared, Failover or KeyShared")
}

// danube returns the client's value of t, with Exclusive for the zero
// value.
func (t SubscriptionType) danube() danube.SubscriptionType {
	switch t {
	case Shared:
		return danube.Shared
	case Failover:
		return danube.Failover
	case KeyShared:
		return danube.KeyShared
	}
	return danube.Exclusive
}
