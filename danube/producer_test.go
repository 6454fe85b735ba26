package danube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// scriptIDs makes CreateProducer hand out ids 1, 2, 3, … and returns the
// count of creates.
func scriptIDs(f *fakeBroker) *atomic.Uint64 {
	var n atomic.Uint64
	f.set(func(h *fakeHandlers) {
		h.create = func(req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
			return &danubepb.ProducerResponse{ProducerId: n.Add(1), ProducerName: req.GetProducerName()}, nil
		}
	})
	return &n
}

func TestSendRecreatesProducerAfterNotFound(t *testing.T) {
	for _, code := range []codes.Code{codes.NotFound, codes.PermissionDenied} {
		t.Run(code.String(), func(t *testing.T) {
			f := startFakeBroker(t, nil)
			creates := scriptIDs(f)
			f.set(func(h *fakeHandlers) {
				h.send = func(req *danubepb.StreamMessage) error {
					if req.GetMsgId().GetProducerId() == 1 {
						return status.Error(code, "topic moved")
					}
					return nil
				}
			})
			c := newTestClient(t, f.addr)
			ctx := testContext(t)
			p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()

			if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
				t.Fatalf("Send after the topic moved = %v, want recovery", err)
			}
			if n := creates.Load(); n != 2 {
				t.Fatalf("producer created %d times, want 2", n)
			}
			if n := len(f.callsTo("/TopicLookup")); n != 2 {
				t.Fatalf("%d lookups, want 2: recreation looks the topic up again", n)
			}
			sends := f.callsTo("/SendMessage")
			if len(sends) != 2 {
				t.Fatalf("%d send attempts, want 2", len(sends))
			}
		})
	}
}

func TestSendGivesUpWhenRecreationDoesNotHelp(t *testing.T) {
	f := startFakeBroker(t, nil)
	creates := scriptIDs(f)
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error {
			return status.Error(codes.PermissionDenied, "schema enforcement rejected the message")
		}
	})
	c := newTestClient(t, f.addr, WithBackoff(Backoff{Initial: time.Millisecond, Max: time.Millisecond}))
	ctx := testContext(t)
	// A budget of 1 ns is spent by the second rejection: the send
	// recreates the producer once, at once, then gives up.
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t", RecoveryTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	err = p.Send(ctx, Message{Payload: []byte("x")})
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("Send = %v, want ErrPermissionDenied", err)
	}
	if n := creates.Load(); n != 2 {
		t.Fatalf("producer created %d times, want 2 (the first time, and one recreation)", n)
	}
}

func TestSendGivesUpWhenRecreateIsDenied(t *testing.T) {
	f := startFakeBroker(t, nil)
	var creates atomic.Int32
	f.set(func(h *fakeHandlers) {
		h.create = func(req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
			if creates.Add(1) > 1 {
				return nil, status.Error(codes.PermissionDenied, "not able to create the producer")
			}
			return &danubepb.ProducerResponse{ProducerId: 1}, nil
		}
		h.send = func(*danubepb.StreamMessage) error { return status.Error(codes.NotFound, "producer unknown") }
	})
	c := newTestClient(t, f.addr, WithBackoff(Backoff{Initial: time.Millisecond, Max: time.Millisecond}))
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t", RecoveryTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// With a context that never ends, the send must still stop.
	err = p.Send(context.Background(), Message{Payload: []byte("x")})
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("Send = %v, want the create's ErrPermissionDenied", err)
	}
	if n := creates.Load(); n != 2 {
		t.Fatalf("%d creates, want 2: the refused recreation spends the budget", n)
	}
}

func TestSendRetriesUnavailableWithBackoff(t *testing.T) {
	f := startFakeBroker(t, nil)
	var failures atomic.Int32
	failures.Store(2)
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error {
			if failures.Add(-1) >= 0 {
				return status.Error(codes.Unavailable, "broker restarting")
			}
			return nil
		}
	})
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithClock(clk), WithBackoff(Backoff{Initial: time.Second, Max: 10 * time.Second, Jitter: -1}))
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	done := make(chan error, 1)
	go func() { done <- p.Send(ctx, Message{Payload: []byte("x")}) }()

	// One waiter is the health ticker; the second is the backoff timer.
	for _, wait := range []time.Duration{time.Second, 2 * time.Second} {
		if err := clk.BlockUntil(ctx, 2); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("Send returned %v during its backoff", err)
		default:
		}
		clk.Advance(wait)
	}
	if err := <-done; err != nil {
		t.Fatalf("Send = %v, want success on the third attempt", err)
	}
	if n := len(f.callsTo("/SendMessage")); n != 3 {
		t.Fatalf("%d send attempts, want 3", n)
	}
}

func TestSendRetryStopsAtCallerDeadline(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error { return status.Error(codes.ResourceExhausted, "busy") }
	})
	c := newTestClient(t, f.addr, WithBackoff(Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}))
	p, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = p.Send(ctx, Message{Payload: []byte("x")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the caller's deadline", err)
	}
	if IsRetryable(err) {
		t.Fatal("an error caused by the caller's deadline is retryable")
	}
	if n := len(f.callsTo("/SendMessage")); n < 2 {
		t.Fatalf("%d send attempts, want retries before the deadline", n)
	}
}

func TestSendFailsFastOnPermanentError(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error { return status.Error(codes.InvalidArgument, "message too large") }
	})
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	err = p.Send(ctx, Message{Payload: []byte("x")})
	var de *Error
	if !errors.As(err, &de) || de.Code != codes.InvalidArgument || de.Op != "send" || de.Topic != "/default/t" {
		t.Fatalf("Send = %#v, want *Error{send, /default/t, InvalidArgument}", err)
	}
	if n := len(f.callsTo("/SendMessage")); n != 1 {
		t.Fatalf("%d send attempts, want 1", n)
	}
}

func TestSendFillsWireFields(t *testing.T) {
	f := startFakeBroker(t, nil)
	var got *danubepb.StreamMessage
	var mu sync.Mutex
	f.set(func(h *fakeHandlers) {
		h.create = func(req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
			if req.GetDispatchStrategy() != danubepb.DispatchStrategy_Reliable {
				return nil, status.Error(codes.FailedPrecondition, "strategy mismatch")
			}
			return &danubepb.ProducerResponse{ProducerId: 42}, nil
		}
		h.send = func(req *danubepb.StreamMessage) error {
			mu.Lock()
			got = req
			mu.Unlock()
			return nil
		}
	})
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t", Name: "p1", Reliable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	at := time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	err = p.Send(ctx, Message{
		Payload:     []byte("hello"),
		Attributes:  map[string]string{"k": "v"},
		RoutingKey:  "key-1",
		PublishTime: at,
	})
	if err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	id := got.GetMsgId()
	switch {
	case id.GetProducerId() != 42:
		t.Errorf("msg_id.producer_id = %d, want 42", id.GetProducerId())
	case id.GetTopicName() != "/default/t":
		t.Errorf("msg_id.topic_name = %q", id.GetTopicName())
	case id.GetBrokerAddr() == "":
		t.Errorf("msg_id.broker_addr is empty")
	}
	if got.GetPublishTime() != uint64(at.UnixMilli()) {
		t.Errorf("publish_time = %d, want %d (milliseconds)", got.GetPublishTime(), at.UnixMilli())
	}
	if got.GetProducerName() != "p1" || string(got.GetPayload()) != "hello" || got.GetAttributes()["k"] != "v" {
		t.Errorf("fields: producer %q payload %q attributes %v", got.GetProducerName(), got.GetPayload(), got.GetAttributes())
	}
	if got.RoutingKey == nil || got.GetRoutingKey() != "key-1" {
		t.Errorf("routing_key = %v, want key-1", got.RoutingKey)
	}
	if got.SchemaId != nil {
		t.Errorf("schema_id set without a schema")
	}
}

func TestPartitionedProducerNamesAndRoutes(t *testing.T) {
	f := startFakeBroker(t, nil)
	var mu sync.Mutex
	names := map[string]string{} // topic -> producer name
	ids := map[string]uint64{}
	var next atomic.Uint64
	f.set(func(h *fakeHandlers) {
		h.create = func(req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			names[req.GetTopicName()] = req.GetProducerName()
			ids[req.GetTopicName()] = next.Add(1)
			return &danubepb.ProducerResponse{ProducerId: ids[req.GetTopicName()]}, nil
		}
	})
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/orders", Name: "pp", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	mu.Lock()
	for i := range 3 {
		topic := PartitionName("/default/orders", i)
		if want := fmt.Sprintf("pp-%d", i); names[topic] != want {
			t.Errorf("partition %d producer name %q, want %q", i, names[topic], want)
		}
	}
	mu.Unlock()

	// "a" hashes to 1 and "foobar" to 0 modulo 3; keyless messages go
	// round robin from partition 0.
	for _, key := range []string{"a", "foobar", "", "", ""} {
		if err := p.Send(ctx, Message{Payload: []byte("x"), RoutingKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	sent := f.sentTopicNames()
	want := []string{"/default/orders-part-1", "/default/orders-part-0", "/default/orders-part-0", "/default/orders-part-1", "/default/orders-part-2"}
	for i := range want {
		if i >= len(sent) || sent[i] != want[i] {
			t.Fatalf("sent to %v, want %v", sent, want)
		}
	}
}

func TestSendAsyncBoundsInFlightAndReportsEach(t *testing.T) {
	f := startFakeBroker(t, nil)
	release := make(chan struct{})
	var inServer, peak atomic.Int32
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error {
			n := inServer.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			<-release
			inServer.Add(-1)
			return nil
		}
	})
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t", MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 4 {
		wg.Add(1)
		p.SendAsync(ctx, Message{Payload: []byte("x")}, func(err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	waitFor(t, func() bool { return inServer.Load() == 4 })

	// A fifth send waits for a slot; with a context that ends, it fails
	// through its callback without reaching the broker.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	fifth := make(chan error, 1)
	p.SendAsync(short, Message{Payload: []byte("x")}, func(err error) { fifth <- err })
	if err := <-fifth; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fifth SendAsync = %v, want the context's deadline", err)
	}

	close(release)
	wg.Wait()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d sends failed", failed.Load())
	}
	if got := peak.Load(); got != 4 {
		t.Fatalf("peak in flight %d, want 4", got)
	}
}

func TestHealthCloseRecreatesProducer(t *testing.T) {
	f := startFakeBroker(t, nil)
	creates := scriptIDs(f)
	f.set(func(h *fakeHandlers) {
		h.health = func(req *danubepb.HealthCheckRequest) (danubepb.HealthCheckResponse_ClientStatus, error) {
			if req.GetClient() != danubepb.HealthCheckRequest_Producer {
				return 0, status.Error(codes.InvalidArgument, "wrong client type")
			}
			if req.GetId() == 1 {
				return danubepb.HealthCheckResponse_CLOSE, nil
			}
			return danubepb.HealthCheckResponse_OK, nil
		}
	})
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithClock(clk))
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	if n := len(f.callsTo("/HealthCheck")); n != 0 {
		t.Fatalf("health checked after 4s: %d calls", n)
	}
	clk.Advance(time.Second)
	waitFor(t, func() bool {
		s := p.parts[0].session.Load()
		return s != nil && s.id == 2
	})
	if n := creates.Load(); n != 2 {
		t.Fatalf("producer created %d times, want 2", n)
	}

	if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if id := f.lastSendProducerID(); id != 2 {
		t.Fatalf("send used producer id %d, want the recreated 2", id)
	}
}

func TestCloseStopsRetryingSend(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error { return status.Error(codes.Unavailable, "down") }
	})
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithClock(clk))
	ctx := testContext(t)
	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	p.SendAsync(ctx, Message{Payload: []byte("x")}, func(err error) { done <- err })
	if err := clk.BlockUntil(ctx, 2); err != nil { // health ticker + backoff
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("retrying send after Close = %v, want ErrClosed", err)
	}
	if err := p.Send(ctx, Message{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestProducerOptionsRejectedBeforeAnyCall(t *testing.T) {
	f := startFakeBroker(t, nil)
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	for _, opts := range []ProducerOptions{
		{Topic: "default/t"},
		{Topic: "/default/t-part-1"},
		{Topic: "/default/t", Partitions: -1},
		{Topic: "/default/t", MaxInFlight: -1},
		{Topic: "/default/t", Schema: &SchemaReference{}},
		{Topic: "/default/t", Schema: &SchemaReference{Subject: "s", PinnedVersion: 1, MinVersion: 1}},
	} {
		if _, err := c.NewProducer(ctx, opts); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewProducer(%+v) = %v, want ErrInvalidArgument", opts, err)
		}
	}
	if n := len(f.allCalls()); n != 0 {
		t.Fatalf("%d calls reached the broker", n)
	}
}
