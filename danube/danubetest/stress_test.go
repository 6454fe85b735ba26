package danubetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// TestAtLeastOnceUnderStreamDrops publishes while the broker keeps dropping
// the consumer's stream and the consumer keeps coming back with the same
// name: every message must arrive at least once and the cursor must reach
// the last offset.
func TestAtLeastOnceUnderStreamDrops(t *testing.T) {
	const (
		topic    = "/default/stress"
		messages = 2000
	)
	b := danubetest.Start(t, danubetest.WithWindow(50))
	c, _ := clients(t, b)
	pid := c.createProducer(t, topic, "p", true)
	c.subscribe(t, topic, "sub", "c", shared)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; i < messages; i++ {
			if _, err := c.producer.SendMessage(ctx, message(pid, topic, "m")); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}()

	seen := make([]bool, messages)
	missing := messages
	for round := 0; missing > 0; round++ {
		if ctx.Err() != nil {
			t.Fatalf("%d messages never arrived", missing)
		}
		cid := c.subscribe(t, topic, "sub", "c", shared)
		rs, err := c.consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{ConsumerId: cid})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for n := 0; n < 97; n++ {
			m, err := rs.Recv()
			if err != nil {
				break
			}
			off := m.GetMsgId().GetTopicOffset()
			if !seen[off] {
				seen[off] = true
				missing--
			}
			if _, err := c.consumer.Ack(ctx, &danubepb.AckRequest{MsgId: m.GetMsgId(), SubscriptionName: "sub"}); err != nil {
				t.Fatalf("ack: %v", err)
			}
			if missing == 0 {
				break
			}
		}
		b.DropReceiveStreams()
	}
	<-published

	eventually(t, "cursor at the last offset", func() bool {
		st, _ := b.Subscription(topic, "sub")
		return st.Cursor == messages-1 && len(st.Pending) == 0
	})
}
