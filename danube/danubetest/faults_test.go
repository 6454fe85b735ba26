package danubetest_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

func TestFailNextFailsTheNextCallsOfAMethod(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	pid := c.createProducer(t, "/default/t", "p", false)

	b.FailNext("SendMessage", 2, codes.Unavailable)
	for i := 0; i < 2; i++ {
		_, err := c.producer.SendMessage(ctxT(t), message(pid, "/default/t", "x"))
		wantCode(t, err, codes.Unavailable)
	}
	c.send(t, pid, "/default/t", "after")
	if n := len(b.Messages("/default/t")); n != 1 {
		t.Fatalf("%d messages stored, want only the one sent after the failures", n)
	}

	b.FailNext("/danube.Discovery/TopicLookup", 1, codes.DeadlineExceeded)
	_, err := c.discovery.TopicPartitions(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.OK)
	_, err = c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.DeadlineExceeded)
	_, err = c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	wantCode(t, err, codes.OK)
}

func TestDelayHoldsResponseOnBrokerClock(t *testing.T) {
	f := newFixture(t)
	f.b.Delay("SendMessage", 2*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := f.c.producer.SendMessage(ctxT(t), message(f.pid, f.topic, "late"))
		done <- err
	}()

	// The message is stored at once, its acknowledgement waits.
	eventually(t, "message stored", func() bool { return len(f.b.Messages(f.topic)) == 1 })
	select {
	case err := <-done:
		t.Fatalf("send returned %v before the clock moved", err)
	case <-time.After(20 * time.Millisecond):
	}
	f.clk.Advance(2 * time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("delayed send: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("send still held after the delay")
	}
	f.b.Delay("SendMessage", 0)
	f.c.send(t, f.pid, f.topic, "prompt")
}

func TestDropReceiveStreamsMakesConsumersInactiveAndRedelivers(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	s.next(t)

	f.b.DropReceiveStreams()
	select {
	case <-s.msgs:
	case <-time.After(waitTimeout):
		t.Fatalf("stream not dropped")
	}
	if err := <-s.done; err == nil || status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want UNAVAILABLE", err)
	}
	if got := f.c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid); got != danubepb.HealthCheckResponse_CLOSE {
		t.Fatalf("health = %v, want CLOSE", got)
	}
	f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s2 := f.c.receive(t, cid)
	if got := s2.next(t).GetMsgId().GetTopicOffset(); got != 0 {
		t.Fatalf("redelivered offset %d, want 0", got)
	}
}

func TestUnloadTopicClosesClientsAndForgetsProducerIDs(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	f.c.ack(t, s.next(t), "sub")

	if err := f.b.UnloadTopic(f.topic); err != nil {
		t.Fatalf("unload: %v", err)
	}
	for _, probe := range []struct {
		kind danubepb.HealthCheckRequest_ClientType
		id   uint64
	}{{danubepb.HealthCheckRequest_Producer, f.pid}, {danubepb.HealthCheckRequest_Consumer, cid}} {
		if got := f.c.healthOf(t, probe.kind, probe.id); got != danubepb.HealthCheckResponse_CLOSE {
			t.Fatalf("%v health = %v, want CLOSE", probe.kind, got)
		}
	}
	_, err := f.c.producer.SendMessage(ctxT(t), message(f.pid, f.topic, "b"))
	wantCode(t, err, codes.NotFound)
	if st, _ := f.b.Subscription(f.topic, "sub"); st.PersistedCursor != 0 {
		t.Fatalf("persisted cursor = %d, want 0: unload flushes the cursor", st.PersistedCursor)
	}

	pid := f.c.createProducer(t, f.topic, "producer", true)
	if pid == f.pid {
		t.Fatalf("producer id %d reused after unload", pid)
	}
	cid2 := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s2 := f.c.receive(t, cid2)
	f.c.send(t, pid, f.topic, "b")
	if m := s2.next(t); m.GetMsgId().GetTopicOffset() != 1 {
		t.Fatalf("after reload got offset %d, want 1", m.GetMsgId().GetTopicOffset())
	}
}

func TestDrainingTopicRejectsSendsWithPermissionDenied(t *testing.T) {
	f := newFixture(t)
	if err := f.b.DrainTopic(f.topic); err != nil {
		t.Fatalf("drain: %v", err)
	}
	_, err := f.c.producer.SendMessage(ctxT(t), message(f.pid, f.topic, "x"))
	wantCode(t, err, codes.PermissionDenied)
	if got := f.c.healthOf(t, danubepb.HealthCheckRequest_Producer, f.pid); got != danubepb.HealthCheckResponse_OK {
		t.Fatalf("producer health while draining = %v, want OK", got)
	}
	if err := f.b.UnloadTopic(f.topic); err != nil {
		t.Fatalf("unload: %v", err)
	}
	_, err = f.c.producer.SendMessage(ctxT(t), message(f.pid, f.topic, "x"))
	wantCode(t, err, codes.NotFound)
}

func TestCursorPersistsAtMostEveryTenSeconds(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "0", "1", "2")

	f.c.ack(t, s.next(t), "sub")
	f.state(t, "sub", "cursor 0 in memory", func(st danubetest.SubscriptionState) bool { return st.Cursor == 0 })
	if st, _ := f.b.Subscription(f.topic, "sub"); st.PersistedCursor != -1 {
		t.Fatalf("persisted cursor = %d right after the first ack, want -1", st.PersistedCursor)
	}

	f.clk.Advance(10 * time.Second)
	f.c.ack(t, s.next(t), "sub")
	f.state(t, "sub", "cursor 1 persisted", func(st danubetest.SubscriptionState) bool { return st.PersistedCursor == 1 })

	f.c.ack(t, s.next(t), "sub")
	f.state(t, "sub", "cursor 2 in memory", func(st danubetest.SubscriptionState) bool { return st.Cursor == 2 })
	if st, _ := f.b.Subscription(f.topic, "sub"); st.PersistedCursor != 1 {
		t.Fatalf("persisted cursor = %d within 10 s of the last persist, want 1", st.PersistedCursor)
	}
}

func TestRestartKeepsStateAndRedeliversUnpersistedAcks(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "0", "1", "2", "3")
	f.c.ack(t, s.next(t), "sub")
	f.clk.Advance(10 * time.Second)
	f.c.ack(t, s.next(t), "sub") // persists cursor 1
	f.c.ack(t, s.next(t), "sub") // cursor 2 only in memory
	f.state(t, "sub", "cursor 2", func(st danubetest.SubscriptionState) bool { return st.Cursor == 2 && st.PersistedCursor == 1 })
	url := f.b.URL()

	f.b.Stop()
	if got := f.b.Messages(f.topic); len(got) != 4 {
		t.Fatalf("%d messages while stopped, want 4", len(got))
	}
	if err := f.b.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if f.b.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, f.b.URL())
	}

	eventually(t, "client reconnects", func() bool {
		_, err := f.c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: f.topic})
		return err == nil
	})
	_, err := f.c.producer.SendMessage(ctxT(t), message(f.pid, f.topic, "x"))
	wantCode(t, err, codes.NotFound)
	cid = f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	s2 := f.c.receive(t, cid)
	for _, want := range []uint64{2, 3} {
		if got := s2.next(t).GetMsgId().GetTopicOffset(); got != want {
			t.Fatalf("after restart got offset %d, want %d", got, want)
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	b, err := danubetest.New()
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	c := dial(t, b.Addr())
	pid := c.createProducer(t, "/default/t", "p", true)
	s := c.receive(t, c.subscribe(t, "/default/t", "s", "c", shared))
	c.send(t, pid, "/default/t", "a")
	s.next(t)
	b.Close()
	b.Close()
	s.close()
	c.conn.Close()
	goleak.VerifyNone(t, ignore)

	if err := b.Restart(); err != danubetest.ErrClosed {
		t.Fatalf("restart after close = %v, want ErrClosed", err)
	}
}

func TestProducersListsAttachedProducersUntilUnload(t *testing.T) {
	f := newFixture(t)
	second := f.c.createProducer(t, f.topic, "another", true)
	got := f.b.Producers(f.topic)
	want := []danubetest.ProducerState{{ID: second, Name: "another"}, {ID: f.pid, Name: "producer"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("producers = %+v, want %+v", got, want)
	}
	if err := f.b.UnloadTopic(f.topic); err != nil {
		t.Fatal(err)
	}
	if got := f.b.Producers(f.topic); got != nil {
		t.Fatalf("producers after unload = %+v, want nil", got)
	}
}

func TestFailNextAppliesToStreams(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", exclusive)
	f.b.FailNext("/danube.ConsumerService/ReceiveMessages", 1, codes.ResourceExhausted)
	rs, err := f.c.consumer.ReceiveMessages(ctxT(t), &danubepb.ReceiveRequest{ConsumerId: cid})
	if err == nil {
		_, err = rs.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted)

	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	if got := string(s.next(t).GetPayload()); got != "a" {
		t.Fatalf("got %q after the injected failure, want \"a\"", got)
	}
}

func TestFailNextRejectsMalformedMethod(t *testing.T) {
	b := danubetest.Start(t)
	for _, method := range []string{"", "/danube.ProducerService", "/a/b/c"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FailNext(%q) did not panic", method)
				}
			}()
			b.FailNext(method, 1, codes.Unavailable)
		}()
	}
}
