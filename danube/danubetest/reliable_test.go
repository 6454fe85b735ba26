package danubetest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// fixture is a broker on a fake clock with one reliable topic, a producer
// and a client.
type fixture struct {
	b     *danubetest.Broker
	clk   *clock.Fake
	c     *client
	admin *client
	topic string
	pid   uint64
}

func newFixture(t *testing.T, opts ...danubetest.Option) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	b := danubetest.Start(t, append([]danubetest.Option{danubetest.WithClock(clk)}, opts...)...)
	c, admin := clients(t, b)
	f := &fixture{b: b, clk: clk, c: c, admin: admin, topic: "/default/" + sanitize(t.Name())}
	if err := b.CreateTopic(f.topic, true); err != nil {
		t.Fatalf("create topic %s: %v", f.topic, err)
	}
	f.pid = c.createProducer(t, f.topic, "producer", true)
	return f
}

func sanitize(name string) string {
	out := []rune{}
	for _, r := range name {
		if r == '/' || r == ' ' || r == '.' {
			r = '_'
		}
		out = append(out, r)
	}
	return string(out)
}

// state waits until the subscription state satisfies cond and returns it.
func (f *fixture) state(t *testing.T, sub, what string, cond func(danubetest.SubscriptionState) bool) danubetest.SubscriptionState {
	t.Helper()
	var st danubetest.SubscriptionState
	eventually(t, what, func() bool {
		st, _ = f.b.Subscription(f.topic, sub)
		return cond(st)
	})
	return st
}

func pendingWith(status string, n int) func(danubetest.SubscriptionState) bool {
	return func(st danubetest.SubscriptionState) bool {
		count := 0
		for _, p := range st.Pending {
			if p.Status == status {
				count++
			}
		}
		return count == n
	}
}

// advance moves the fake clock forward in heartbeat steps, so that every
// dispatcher heartbeat on the way runs.
func (f *fixture) advance(d time.Duration) {
	const step = 500 * time.Millisecond
	for ; d > 0; d -= step {
		f.clk.Advance(min(step, d))
	}
}

func (f *fixture) setPolicy(t *testing.T, sub string, p *adminpb.SubscriptionFailurePolicy) {
	t.Helper()
	if _, err := f.admin.topics.SetSubscriptionFailurePolicy(ctxT(t), &adminpb.SetSubscriptionFailurePolicyRequest{
		Topic: f.topic, Subscription: sub, FailurePolicy: p,
	}); err != nil {
		t.Fatalf("set failure policy: %v", err)
	}
}

func payloads(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i)
	}
	return out
}

func TestReliableOffsetsArePerTopicFromZero(t *testing.T) {
	f := newFixture(t)
	other := "/default/other"
	otherPID := f.c.createProducer(t, other, "producer", true)
	f.c.send(t, f.pid, f.topic, "a", "b")
	f.c.send(t, otherPID, other, "x")

	for _, tc := range []struct {
		topic   string
		offsets []uint64
	}{{f.topic, []uint64{0, 1}}, {other, []uint64{0}}} {
		msgs := f.b.Messages(tc.topic)
		if len(msgs) != len(tc.offsets) {
			t.Fatalf("%s has %d messages, want %d", tc.topic, len(msgs), len(tc.offsets))
		}
		for i, m := range msgs {
			if m.Offset != tc.offsets[i] {
				t.Errorf("%s message %d offset = %d, want %d", tc.topic, i, m.Offset, tc.offsets[i])
			}
		}
	}
}

func TestWindowDefaultsToTenInFlight(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, payloads(25)...)

	for i := 0; i < 10; i++ {
		s.next(t)
	}
	s.expectNone(t, 50*time.Millisecond)
	st, _ := f.b.Subscription(f.topic, "sub")
	if st.Window != danubetest.DefaultWindow || len(st.Pending) != 10 {
		t.Fatalf("window %d with %d pending, want %d with 10", st.Window, len(st.Pending), danubetest.DefaultWindow)
	}
}

func TestWithWindowSetsBrokerDefault(t *testing.T) {
	f := newFixture(t, danubetest.WithWindow(3))
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, payloads(5)...)

	first := []*danubepb.StreamMessage{s.next(t), s.next(t), s.next(t)}
	s.expectNone(t, 50*time.Millisecond)

	f.c.ack(t, first[0], "sub")
	if got := s.next(t).GetMsgId().GetTopicOffset(); got != 3 {
		t.Fatalf("after one ack got offset %d, want 3", got)
	}
}

func TestDispatchConfigOverridesWindowPerSubscription(t *testing.T) {
	f := newFixture(t)
	if _, err := f.admin.topics.SetSubscriptionDispatchConfig(ctxT(t), &adminpb.SetSubscriptionDispatchConfigRequest{
		Topic: f.topic, Subscription: "sub", DispatchConfig: &adminpb.SubscriptionDispatchConfig{MaxUnackedMessages: 2},
	}); err != nil {
		t.Fatalf("set dispatch config: %v", err)
	}
	got, err := f.admin.topics.GetSubscriptionDispatchConfig(ctxT(t), &adminpb.GetSubscriptionDispatchConfigRequest{Topic: f.topic, Subscription: "sub"})
	if err != nil || got.GetDispatchConfig().GetMaxUnackedMessages() != 2 {
		t.Fatalf("get dispatch config = %v, %v; want 2", got, err)
	}

	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, payloads(5)...)
	s.next(t)
	s.next(t)
	s.expectNone(t, 50*time.Millisecond)

	_, err = f.admin.topics.SetSubscriptionDispatchConfig(ctxT(t), &adminpb.SetSubscriptionDispatchConfigRequest{
		Topic: f.topic, Subscription: "sub", DispatchConfig: &adminpb.SubscriptionDispatchConfig{MaxUnackedMessages: 10001},
	})
	wantCode(t, err, 3) // InvalidArgument
}

func TestNewSubscriptionStartsAtLatestMessage(t *testing.T) {
	f := newFixture(t)
	f.c.send(t, f.pid, f.topic, "before-1", "before-2")
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "after")

	m := s.next(t)
	if string(m.GetPayload()) != "after" || m.GetMsgId().GetTopicOffset() != 2 {
		t.Fatalf("first delivery %q at offset %d, want \"after\" at 2", m.GetPayload(), m.GetMsgId().GetTopicOffset())
	}
}

func TestCursorIsHighestContiguouslyAckedOffset(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, payloads(4)...)
	msgs := []*danubepb.StreamMessage{s.next(t), s.next(t), s.next(t), s.next(t)}

	steps := []struct {
		ack    int
		cursor int64
	}{{1, -1}, {3, -1}, {0, 1}, {2, 3}}
	for _, step := range steps {
		f.c.ack(t, msgs[step.ack], "sub")
		f.state(t, "sub", fmt.Sprintf("cursor %d after ack of %d", step.cursor, step.ack), func(st danubetest.SubscriptionState) bool {
			for _, p := range st.Pending {
				if p.Offset == uint64(step.ack) {
					return false
				}
			}
			return st.Cursor == step.cursor
		})
	}
}

func TestDuplicateAckIsIgnored(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a", "b")
	a, _ := s.next(t), s.next(t)
	f.c.ack(t, a, "sub")
	f.c.ack(t, a, "sub")
	st := f.state(t, "sub", "one pending", func(st danubetest.SubscriptionState) bool { return len(st.Pending) == 1 })
	if st.Cursor != 0 || st.Pending[0].Offset != 1 {
		t.Fatalf("cursor %d pending %+v, want cursor 0 and offset 1 pending", st.Cursor, st.Pending)
	}
}

func TestAckTimeoutRedeliversAfterPolicyDelay(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	s.next(t)
	f.state(t, "sub", "message awaits ack", pendingWith("awaiting_ack", 1))

	f.advance(30 * time.Second)
	st := f.state(t, "sub", "ack timeout", pendingWith("waiting_to_retry", 1))
	if st.Pending[0].Reason != "ack timeout" {
		t.Fatalf("reason = %q, want \"ack timeout\"", st.Pending[0].Reason)
	}
	s.expectNone(t, 20*time.Millisecond)

	f.advance(time.Second)
	m := s.next(t)
	if m.GetMsgId().GetTopicOffset() != 0 {
		t.Fatalf("redelivered offset %d, want 0", m.GetMsgId().GetTopicOffset())
	}
	if got := f.b.DeliveryCount(f.topic, "sub", 0); got != 2 {
		t.Fatalf("delivery count = %d, want 2", got)
	}
}

func TestNackWithoutDelayStillWaitsPolicyDelay(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")

	// Exponential from 1 s: the n-th delivery waits 2^(n-1) s after its nack.
	start := f.clk.Now()
	for attempt, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		m := s.next(t)
		f.c.nack(t, m, "sub", nil, nil)
		st := f.state(t, "sub", "nack scheduled", pendingWith("waiting_to_retry", 1))
		if got := st.Pending[0].RetryAt.Sub(f.clk.Now()); got != wait {
			t.Fatalf("attempt %d: retry in %v, want %v", attempt+1, got, wait)
		}
		f.advance(wait - 500*time.Millisecond)
		s.expectNone(t, 20*time.Millisecond)
		f.advance(500 * time.Millisecond)
	}
	s.next(t)
	if f.clk.Since(start) != 7*time.Second {
		t.Fatalf("fourth delivery after %v, want 7s", f.clk.Since(start))
	}
}

func TestNackDelayFormula(t *testing.T) {
	cases := []struct {
		name        string
		exponential bool
		base, max   uint64
		nacks       int // earlier nacks, so the next one is on delivery nacks+1
		requested   *uint64
		want        time.Duration
	}{
		{"fixed uses base", false, 1000, 60000, 2, nil, time.Second},
		{"exponential doubles per attempt", true, 1000, 60000, 2, nil, 4 * time.Second},
		{"requested longer than policy wins", true, 1000, 60000, 0, u64(5000), 5 * time.Second},
		{"requested shorter than policy loses", true, 1000, 60000, 0, u64(10), time.Second},
		{"max caps policy delay", true, 1000, 3000, 3, nil, 3 * time.Second},
		{"max caps requested delay", false, 1000, 3000, 0, u64(9000), 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			strategy := adminpb.SubscriptionBackoffStrategy_Fixed
			if tc.exponential {
				strategy = adminpb.SubscriptionBackoffStrategy_Exponential
			}
			f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
				MaxRedeliveryCount: 10, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: tc.base, MaxRedeliveryDelayMs: tc.max,
				BackoffStrategy: strategy, PoisonPolicy: adminpb.SubscriptionPoisonPolicy_Block,
			})
			cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
			s := f.c.receive(t, cid)
			f.c.send(t, f.pid, f.topic, "a")
			for i := 0; i < tc.nacks; i++ {
				f.c.nack(t, s.next(t), "sub", nil, nil)
				f.state(t, "sub", "nack scheduled", pendingWith("waiting_to_retry", 1))
				f.advance(time.Minute)
			}
			f.c.nack(t, s.next(t), "sub", tc.requested, nil)
			st := f.state(t, "sub", "nack scheduled", pendingWith("waiting_to_retry", 1))
			if got := st.Pending[0].RetryAt.Sub(f.clk.Now()); got != tc.want {
				t.Fatalf("redelivery in %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStreamDisconnectRedeliversImmediately(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a", "b")
	s.next(t)
	s.next(t)
	s.close()
	f.state(t, "sub", "consumer inactive", func(st danubetest.SubscriptionState) bool {
		return len(st.Consumers) == 1 && !st.Consumers[0].Active
	})

	// The same consumer comes back with a new stream: no clock advance.
	f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s2 := f.c.receive(t, cid)
	for want := uint64(0); want < 2; want++ {
		if got := s2.next(t).GetMsgId().GetTopicOffset(); got != want {
			t.Fatalf("redelivered offset %d, want %d", got, want)
		}
	}
	if got := f.b.DeliveryCount(f.topic, "sub", 0); got != 2 {
		t.Fatalf("delivery count = %d, want 2: a reconnect resend counts as an attempt", got)
	}
}

func TestTakeoverBySameConsumerNameRedeliversImmediately(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	s.next(t)

	again := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	if again != cid {
		t.Fatalf("takeover consumer id %d, want the existing %d", again, cid)
	}
	select {
	case _, ok := <-s.msgs:
		if ok {
			t.Fatalf("old stream got a message after takeover")
		}
	case <-time.After(waitTimeout):
		t.Fatalf("old stream did not end on takeover")
	}
	s2 := f.c.receive(t, cid)
	if got := s2.next(t).GetMsgId().GetTopicOffset(); got != 0 {
		t.Fatalf("redelivered offset %d, want 0", got)
	}
	st, _ := f.b.Subscription(f.topic, "sub")
	if st.Pending[0].Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", st.Pending[0].Attempts)
	}
}

func TestRedeliveryLimitBlocksByDefault(t *testing.T) {
	f := newFixture(t)
	f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 2, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 100, MaxRedeliveryDelayMs: 100,
		BackoffStrategy: adminpb.SubscriptionBackoffStrategy_Fixed, PoisonPolicy: adminpb.SubscriptionPoisonPolicy_Block,
	})
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "poison")
	for i := 0; i < 3; i++ {
		f.c.nack(t, s.next(t), "sub", nil, str("bad"))
		f.state(t, "sub", "nack applied", func(st danubetest.SubscriptionState) bool {
			return len(st.Pending) == 1 && st.Pending[0].Status != "awaiting_ack"
		})
		f.advance(500 * time.Millisecond)
	}
	st := f.state(t, "sub", "exhausted", pendingWith("retry_exhausted", 1))
	if st.Pending[0].Attempts != 3 {
		t.Fatalf("attempts = %d, want 3 (two redeliveries)", st.Pending[0].Attempts)
	}

	f.c.send(t, f.pid, f.topic, "next")
	f.advance(2 * time.Second)
	s.expectNone(t, 50*time.Millisecond)
	if st, _ := f.b.Subscription(f.topic, "sub"); st.Cursor != -1 {
		t.Fatalf("cursor = %d, want -1 while blocked", st.Cursor)
	}
}

func TestDefaultFailurePolicyIsStoredForNewSubscription(t *testing.T) {
	f := newFixture(t)
	f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	resp, err := f.admin.topics.GetSubscriptionFailurePolicy(ctxT(t), &adminpb.GetSubscriptionFailurePolicyRequest{Topic: f.topic, Subscription: "sub"})
	if err != nil {
		t.Fatalf("get failure policy: %v", err)
	}
	p := resp.GetFailurePolicy()
	if p.GetMaxRedeliveryCount() != 5 || p.GetAckTimeoutMs() != 30000 || p.GetBaseRedeliveryDelayMs() != 1000 ||
		p.GetMaxRedeliveryDelayMs() != 60000 || p.GetBackoffStrategy() != adminpb.SubscriptionBackoffStrategy_Exponential ||
		p.GetPoisonPolicy() != adminpb.SubscriptionPoisonPolicy_Block || p.DeadLetterTopic != nil {
		t.Fatalf("default policy = %v", p)
	}
}

func TestDropPolicySkipsExhaustedMessage(t *testing.T) {
	f := newFixture(t)
	f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 0, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 100, MaxRedeliveryDelayMs: 100,
		PoisonPolicy: adminpb.SubscriptionPoisonPolicy_Drop,
	})
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "poison", "good")
	poison, good := s.next(t), s.next(t)
	f.c.ack(t, good, "sub")
	f.c.nack(t, poison, "sub", nil, nil)

	f.state(t, "sub", "poison dropped and cursor past both", func(st danubetest.SubscriptionState) bool {
		return len(st.Pending) == 0 && st.Cursor == 1
	})
	s.expectNone(t, 20*time.Millisecond)
}

func TestDeadLetterPolicyRepublishesWithOriginAttributes(t *testing.T) {
	f := newFixture(t)
	const dlq = "/default/dead_letters"
	f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 0, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 100, MaxRedeliveryDelayMs: 100,
		DeadLetterTopic: str(dlq), PoisonPolicy: adminpb.SubscriptionPoisonPolicy_DeadLetter,
	})
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	msg := message(f.pid, f.topic, "poison")
	msg.Attributes = map[string]string{"k": "v"}
	if _, err := f.c.producer.SendMessage(ctxT(t), msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	f.c.nack(t, s.next(t), "sub", nil, str("cannot parse"))

	eventually(t, "dead letter published", func() bool { return len(f.b.Messages(dlq)) == 1 })
	dead := f.b.Messages(dlq)[0]
	want := map[string]string{
		"k":                                 "v",
		danubetest.AttrOriginalTopic:        f.topic,
		danubetest.AttrOriginalSubscription: "sub",
		danubetest.AttrOriginalTopicOffset:  "0",
		danubetest.AttrOriginalProducerID:   fmt.Sprint(f.pid),
		danubetest.AttrPoisonPolicy:         "dead_letter",
		danubetest.AttrDeliveryAttempt:      "1",
		danubetest.AttrFailureReason:        "cannot parse",
	}
	for k, v := range want {
		if dead.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, dead.Attributes[k], v)
		}
	}
	if _, ok := dead.Attributes[danubetest.AttrOriginalBrokerAddr]; !ok {
		t.Errorf("attribute %s missing", danubetest.AttrOriginalBrokerAddr)
	}
	if string(dead.Payload) != "poison" || dead.Offset != 0 {
		t.Errorf("dead letter %q at offset %d, want \"poison\" at 0", dead.Payload, dead.Offset)
	}
	f.state(t, "sub", "poison skipped", func(st danubetest.SubscriptionState) bool {
		return len(st.Pending) == 0 && st.Cursor == 0
	})
}

func TestBlockedConsumerChannelHoldsFourAndDispatcherWaits(t *testing.T) {
	f := newFixture(t)
	f.c.subscribe(t, f.topic, "sub", "c", exclusive) // no stream opened
	f.c.send(t, f.pid, f.topic, payloads(10)...)

	st := f.state(t, "sub", "four in the consumer channel, the dispatcher waiting on the fifth", func(st danubetest.SubscriptionState) bool {
		return pendingWith("awaiting_ack", 4)(st) && len(st.Pending) > 4
	})
	for _, p := range st.Pending[4:] {
		if p.Status != "sending" {
			t.Fatalf("offset %d status %s, want sending while the channel is full", p.Offset, p.Status)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if again, _ := f.b.Subscription(f.topic, "sub"); len(again.Pending) != len(st.Pending) {
		t.Fatalf("pending grew from %d to %d while the dispatcher should wait", len(st.Pending), len(again.Pending))
	}
}

func TestHeartbeatDispatchesAfterStreamReopens(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	s.next(t)
	s.close()
	f.state(t, "sub", "redelivery due", pendingWith("waiting_to_retry", 1))

	// A new stream without Subscribe: the next heartbeat resends.
	s2 := f.c.receive(t, cid)
	s2.expectNone(t, 20*time.Millisecond)
	f.advance(500 * time.Millisecond)
	if got := s2.next(t).GetMsgId().GetTopicOffset(); got != 0 {
		t.Fatalf("offset %d, want 0", got)
	}
}

func TestImmediateNackCountsTheAttemptJustSent(t *testing.T) {
	f := newFixture(t, danubetest.WithWindow(100))
	const dlq = "/default/fast_dlq"
	f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 1, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 0, MaxRedeliveryDelayMs: 0,
		DeadLetterTopic: str(dlq), PoisonPolicy: adminpb.SubscriptionPoisonPolicy_DeadLetter,
	})
	cid := f.c.subscribe(t, f.topic, "sub", "c", shared)
	s := f.c.receive(t, cid)
	const n = 50
	f.c.send(t, f.pid, f.topic, payloads(n)...)

	// Every message is nacked the moment it arrives: the first nack
	// schedules the one redelivery, the second exhausts the message.
	for i := 0; i < 2*n; i++ {
		f.c.nack(t, s.next(t), "sub", nil, nil)
	}
	eventually(t, "all messages dead-lettered", func() bool { return len(f.b.Messages(dlq)) == n })
	s.expectNone(t, 20*time.Millisecond)
	for off := uint64(0); off < n; off++ {
		if got := f.b.DeliveryCount(f.topic, "sub", off); got != 2 {
			t.Fatalf("offset %d delivered %d times, want 2", off, got)
		}
	}
}

func defaultPolicyProto() *adminpb.SubscriptionFailurePolicy {
	return &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 5, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 1000, MaxRedeliveryDelayMs: 60000,
		BackoffStrategy: adminpb.SubscriptionBackoffStrategy_Exponential, PoisonPolicy: adminpb.SubscriptionPoisonPolicy_Block,
	}
}

func TestDeadLetterRetriesUntilTopicCanTakeIt(t *testing.T) {
	f := newFixture(t, danubetest.WithAutoCreateTopics(false))
	const dlq = "/default/missing_dlq"
	f.setPolicy(t, "sub", &adminpb.SubscriptionFailurePolicy{
		MaxRedeliveryCount: 0, AckTimeoutMs: 30000, BaseRedeliveryDelayMs: 0, MaxRedeliveryDelayMs: 0,
		DeadLetterTopic: str(dlq), PoisonPolicy: adminpb.SubscriptionPoisonPolicy_DeadLetter,
	})
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "poison")
	f.c.nack(t, s.next(t), "sub", nil, nil)
	f.state(t, "sub", "message exhausted", pendingWith("retry_exhausted", 1))
	f.advance(time.Second)
	if st, _ := f.b.Subscription(f.topic, "sub"); len(st.Pending) != 1 {
		t.Fatalf("pending = %+v, want the exhausted message kept while the dead-letter topic is missing", st.Pending)
	}

	if err := f.b.CreateTopic(dlq, true); err != nil {
		t.Fatalf("create dead-letter topic: %v", err)
	}
	f.advance(500 * time.Millisecond)
	eventually(t, "dead letter published", func() bool { return len(f.b.Messages(dlq)) == 1 })
	f.state(t, "sub", "message skipped", func(st danubetest.SubscriptionState) bool { return len(st.Pending) == 0 && st.Cursor == 0 })
}
