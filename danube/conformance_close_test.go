package danube_test

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// TestConformanceClosedConsumerFreesShared shows that a consumer closed
// right after NewConsumer leaves no active consumer behind on the broker:
// a message published after the close reaches the subscription's other
// consumer at once, not after the broker's ack timeout (30 s by default,
// longer than this test's wait).
func TestConformanceClosedConsumerFreesShared(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	first, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "s", Name: "first", Type: danube.Shared})
	if err != nil {
		t.Fatalf("NewConsumer(first): %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close(first): %v", err)
	}
	second := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "s", Name: "second", Type: danube.Shared})

	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "after close")

	m := receive(t, second)
	if string(m.Payload) != "after close" {
		t.Errorf("payload = %q, want %q", m.Payload, "after close")
	}
	ack(t, second, m)
}

// TestRecoveryFailedNewConsumerLeavesNoActiveConsumer: when NewConsumer
// fails on one partition, the partitions that did subscribe must not stay
// active on the broker: on a Shared subscription the broker would keep
// sending them messages that no one reads until the ack timeout.
func TestRecoveryFailedNewConsumerLeavesNoActiveConsumer(t *testing.T) {
	e := newEnv(t, danubetest.WithClock(clock.NewFake(time.Time{}))) // no ack timeout fires
	b := e.needBroker(t, "fault injection")
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 2)

	// One of the two partitions' subscriptions is refused.
	b.FailNext("Subscribe", 1, codes.PermissionDenied)
	if cons, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "s", Name: "failed", Type: danube.Shared}); err == nil {
		_ = cons.Close()
		t.Fatal("NewConsumer succeeded although one partition's Subscribe was refused")
	}
	// The broker learns of the released stream's end on its own time.
	eventually(t, "the failed NewConsumer leaves no active consumer on the broker", func() bool {
		for i := range 2 {
			for _, cs := range b.Consumers(danube.PartitionName(name, i))["s"] {
				if cs.Name == "failed" && cs.Active {
					return false
				}
			}
		}
		return true
	})

	// A consumer that starts afterwards gets every message.
	good := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "s", Name: "good", Type: danube.Shared})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true, Partitions: 2})
	const n = 10
	for i := range n {
		send(t, p, strconv.Itoa(i))
	}
	for range n {
		ack(t, good, receive(t, good))
	}
}
