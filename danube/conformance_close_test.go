package danube_test

import (
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube"
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
