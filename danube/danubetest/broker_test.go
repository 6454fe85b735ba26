package danubetest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

func TestReliableTopicDeliversInOrderWithOffsets(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	const topic = "/default/orders"

	pid := c.createProducer(t, topic, "p1", true)
	cid := c.subscribe(t, topic, "sub", "c1", exclusive)
	s := c.receive(t, cid)
	c.send(t, pid, topic, "a", "b", "c")

	for i, want := range []string{"a", "b", "c"} {
		m := s.next(t)
		if string(m.GetPayload()) != want {
			t.Fatalf("message %d payload = %q, want %q", i, m.GetPayload(), want)
		}
		if m.GetMsgId().GetTopicOffset() != uint64(i) {
			t.Fatalf("message %d offset = %d, want %d", i, m.GetMsgId().GetTopicOffset(), i)
		}
		c.ack(t, m, "sub")
	}
	eventually(t, "cursor reaches offset 2", func() bool {
		st, _ := b.Subscription(topic, "sub")
		return st.Cursor == 2 && len(st.Pending) == 0
	})
}

func TestURLHasHTTPSchemeAndLoopbackHost(t *testing.T) {
	b := danubetest.Start(t)
	for _, u := range []string{b.URL(), b.AdminURL()} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("URL %q does not start with http://127.0.0.1:", u)
		}
	}
	if b.URL() == b.AdminURL() {
		t.Errorf("client and admin URL are both %q", b.URL())
	}
}

func TestNonReliableTopicDeliversWithoutOffsets(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	const topic = "/default/ticks"

	pid := c.createProducer(t, topic, "p1", false)
	cid := c.subscribe(t, topic, "sub", "c1", shared)
	s := c.receive(t, cid)
	for i := 0; i < 3; i++ {
		c.send(t, pid, topic, fmt.Sprint(i))
		m := s.next(t)
		if got := string(m.GetPayload()); got != fmt.Sprint(i) {
			t.Fatalf("payload = %q, want %q", got, fmt.Sprint(i))
		}
		if m.GetMsgId().GetTopicOffset() != 0 {
			t.Fatalf("non-reliable offset = %d, want 0", m.GetMsgId().GetTopicOffset())
		}
	}
	if got := c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid); got != danubepb.HealthCheckResponse_OK {
		t.Fatalf("consumer health = %v, want OK", got)
	}
}
