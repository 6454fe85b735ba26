package danube

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
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
