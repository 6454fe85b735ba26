package danube

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// streamThen scripts ReceiveMessages to send n messages of topic, then to
// end with err (or to stay open when err is nil).
func streamThen(f *fakeBroker, topic string, n int, err error) {
	f.set(func(h *fakeHandlers) {
		h.receive = func(_ *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
			for i := range n {
				m := &danubepb.StreamMessage{
					MsgId:   &danubepb.MsgID{TopicName: topic, TopicOffset: uint64(i), ProducerId: 1},
					Payload: []byte(strconv.Itoa(i)),
				}
				if err := stream.Send(m); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	})
}

func TestReceiveBatchTakesWhatIsBuffered(t *testing.T) {
	f := startFakeBroker(t, nil)
	streamThen(f, "/default/t", 5, nil)
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	cons, err := c.NewConsumer(ctx, ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	waitFor(t, func() bool { return len(cons.deliver) == 5 })

	buf := make([]*Message, 3)
	n, err := cons.ReceiveBatch(ctx, buf)
	if err != nil || n != 3 {
		t.Fatalf("ReceiveBatch into 3 slots = %d, %v; want 3 buffered messages", n, err)
	}
	n, err = cons.ReceiveBatch(ctx, make([]*Message, 10))
	if err != nil || n != 2 {
		t.Fatalf("second ReceiveBatch = %d, %v; want the 2 left, without waiting for more", n, err)
	}
	if n, err := cons.ReceiveBatch(ctx, nil); n != 0 || err != nil {
		t.Fatalf("ReceiveBatch(nil) = %d, %v", n, err)
	}
}

func TestReceiveBatchKeepsPartitionFailureForNextCall(t *testing.T) {
	f := startFakeBroker(t, nil)
	streamThen(f, "/default/t", 2, status.Error(codes.PermissionDenied, "no consume permission"))
	c := newTestClient(t, f.addr)
	ctx := testContext(t)
	cons, err := c.NewConsumer(ctx, ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	waitFor(t, func() bool { return len(cons.deliver) == 3 })

	buf := make([]*Message, 10)
	n, err := cons.ReceiveBatch(ctx, buf)
	if err != nil || n != 2 || string(buf[0].Payload) != "0" || string(buf[1].Payload) != "1" {
		t.Fatalf("ReceiveBatch = %d, %v; want the two messages before the failure", n, err)
	}
	_, err = cons.Receive(ctx)
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("next Receive = %v, want the partition's ErrPermissionDenied", err)
	}
}

func TestReceivePrefersBufferedMessageOverEndedContext(t *testing.T) {
	f := startFakeBroker(t, nil)
	streamThen(f, "/default/t", 1, nil)
	c := newTestClient(t, f.addr)
	cons, err := c.NewConsumer(testContext(t), ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	waitFor(t, func() bool { return len(cons.deliver) == 1 })

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := cons.Receive(ended)
	if err != nil || string(m.Payload) != "0" {
		t.Fatalf("Receive with an ended context = %v, %v; want the buffered message", m, err)
	}
}

// streamOffsets scripts ReceiveMessages to send messages of topic at the
// given offsets, then to stay open.
func streamOffsets(f *fakeBroker, topic string, offsets ...uint64) {
	f.set(func(h *fakeHandlers) {
		h.receive = func(_ *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
			for _, off := range offsets {
				m := &danubepb.StreamMessage{MsgId: &danubepb.MsgID{TopicName: topic, TopicOffset: off, ProducerId: 1}}
				if err := stream.Send(m); err != nil {
					return err
				}
			}
			<-stream.Context().Done()
			return nil
		}
	})
}

type gap struct{ first, last uint64 }

// receiveGaps receives len(offsets) messages from a consumer of type typ
// and returns the gaps it reported.
func receiveGaps(t *testing.T, typ SubscriptionType, offsets ...uint64) []gap {
	t.Helper()
	f := startFakeBroker(t, nil)
	streamOffsets(f, "/default/t", offsets...)
	c := newTestClient(t, f.addr)
	var (
		mu   sync.Mutex
		gaps []gap
	)
	cons, err := c.NewConsumer(testContext(t), ConsumerOptions{Topic: "/default/t", Subscription: "s", Type: typ,
		OnGap: func(partition string, first, last uint64) {
			if partition != "/default/t" {
				t.Errorf("OnGap partition = %q, want /default/t", partition)
			}
			mu.Lock()
			gaps = append(gaps, gap{first, last})
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for range offsets {
		if _, err := cons.Receive(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(gaps)
}

func TestGapInOffsetsReported(t *testing.T) {
	// 3-4 and 7-8 are skipped; 4 comes later as a redelivery, which is no gap.
	got := receiveGaps(t, Exclusive, 0, 1, 2, 5, 6, 4, 9)
	if want := []gap{{3, 4}, {7, 8}}; !slices.Equal(got, want) {
		t.Fatalf("gaps = %v, want %v", got, want)
	}
}

func TestGapAfterOffsetsStartOver(t *testing.T) {
	// After a restart broker v0.15.1 numbers the topic from 0 again.
	got := receiveGaps(t, Failover, 20000, 20001, 0, 1, 3)
	if want := []gap{{2, 2}}; !slices.Equal(got, want) {
		t.Fatalf("gaps = %v, want %v", got, want)
	}
}

func TestGapNotTrackedOnShared(t *testing.T) {
	// A Shared consumer gets some of the offsets; the others go elsewhere.
	if got := receiveGaps(t, Shared, 0, 2, 5); len(got) != 0 {
		t.Fatalf("gaps on a Shared consumer = %v, want none", got)
	}
}

func TestResubscribeRetriesUnauthenticatedWithSupplier(t *testing.T) {
	f := startFakeBroker(t, nil)
	var subscribes, streams atomic.Int32
	f.set(func(h *fakeHandlers) {
		h.subscribe = func(*danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error) {
			// The first resubscription finds the token expired.
			if subscribes.Add(1) == 2 {
				return nil, status.Error(codes.Unauthenticated, "token expired")
			}
			return &danubepb.ConsumerResponse{ConsumerId: 1}, nil
		}
		h.receive = func(_ *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
			if streams.Add(1) == 1 {
				return status.Error(codes.Unavailable, "broker restarting")
			}
			m := &danubepb.StreamMessage{MsgId: &danubepb.MsgID{TopicName: "/default/t", TopicOffset: 7, ProducerId: 1}}
			if err := stream.Send(m); err != nil {
				return err
			}
			<-stream.Context().Done()
			return nil
		}
	})
	supplier := func(context.Context) (string, error) { return "rotating-token", nil }
	c := newTestClient(t, f.addr, WithTokenSupplier(supplier), WithInsecure(),
		WithBackoff(Backoff{Initial: time.Millisecond, Max: time.Millisecond}))
	cons, err := c.NewConsumer(testContext(t), ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()

	m, err := cons.Receive(testContext(t))
	if err != nil {
		t.Fatalf("Receive after an UNAUTHENTICATED resubscription = %v, want the message", err)
	}
	if m.ID.Offset != 7 {
		t.Fatalf("received offset %d, want 7", m.ID.Offset)
	}
	if n := subscribes.Load(); n < 3 {
		t.Fatalf("%d subscriptions, want at least 3 (first, refused, retried)", n)
	}
}

// TestStaleHealthCloseKeepsNewStream covers a CLOSE that the broker sent
// for a stream that has since dropped: by the time it arrives, the
// partition has subscribed again and the broker gave the same consumer id.
// The CLOSE concerns the old stream only, so the new one must stay open.
func TestStaleHealthCloseKeepsNewStream(t *testing.T) {
	f := startFakeBroker(t, nil)
	var streams, checks atomic.Int32
	dropFirst := make(chan struct{})
	checking := make(chan struct{})
	reply := make(chan struct{})
	f.set(func(h *fakeHandlers) {
		// Subscribe keeps the default reply: consumer id 7 every time.
		h.receive = func(_ *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
			if err := stream.SendHeader(nil); err != nil {
				return err
			}
			if streams.Add(1) == 1 {
				<-dropFirst
				return nil
			}
			<-stream.Context().Done()
			return nil
		}
		h.health = func(*danubepb.HealthCheckRequest) (danubepb.HealthCheckResponse_ClientStatus, error) {
			if checks.Add(1) == 1 {
				close(checking)
				<-reply
				return danubepb.HealthCheckResponse_CLOSE, nil
			}
			return danubepb.HealthCheckResponse_OK, nil
		}
	})
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithClock(clk), WithBackoff(Backoff{Initial: time.Millisecond, Max: time.Millisecond}))
	ctx := testContext(t)
	cons, err := c.NewConsumer(ctx, ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc := cons.parts["/default/t"]
	first := pc.session.Load()

	// The health check queries the first stream. The broker holds the
	// reply while the stream drops and the partition subscribes again.
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	<-checking
	close(dropFirst)
	waitFor(t, func() bool { return clk.Waiters() >= 2 }) // the health ticker and the backoff timer
	clk.Advance(time.Second)
	waitFor(t, func() bool { s := pc.session.Load(); return streams.Load() == 2 && s != nil && s != first })
	second := pc.session.Load()

	// The stale CLOSE arrives. The next check starts only after the loop
	// has handled it.
	close(reply)
	clk.Advance(5 * time.Second)
	waitFor(t, func() bool { return checks.Load() == 2 })

	second.mu.Lock()
	closed := second.closed
	second.mu.Unlock()
	if closed {
		t.Fatal("a CLOSE for the dropped stream closed the stream opened after it")
	}
	if got := pc.session.Load(); got != second {
		t.Fatal("the partition left the stream opened after the dropped one")
	}
}
