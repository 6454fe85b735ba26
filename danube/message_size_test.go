package danube_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
)

// TestLargestPublishableMessageIsDelivered publishes the largest payload
// the broker accepts (its gRPC server rejects requests over 4 MiB) and
// expects the consumer to deliver it or to report a failure. The broker
// adds the subscription name and the offset to the message it streams, so
// the delivery is a few bytes larger than the publish: over gRPC's default
// 4 MiB receive limit, and within the client's default.
func TestLargestPublishableMessageIsDelivered(t *testing.T) {
	e := newEnv(t)
	var logs syncbuf.Buffer
	c := e.client(t, danube.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer func() { t.Logf("client log:\n%s", logs.String()) }()
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "a-subscription-name-of-some-length", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	// Find the largest payload the broker takes, by bisection below 4 MiB.
	// A payload over the limit fails at once with ErrMessageTooLarge,
	// which is not retried. Any other failure ends the test.
	lo, hi := 4<<20-4096, 4<<20 // lo is accepted, hi is not
	fits := func(n int) bool {
		err := p.Send(testContext(t), danube.Message{Payload: make([]byte, n)})
		if err != nil && !errors.Is(err, danube.ErrMessageTooLarge) {
			t.Fatalf("send of %d bytes: %v", n, err)
		}
		return err == nil
	}
	if !fits(lo) {
		t.Fatalf("the broker refuses a payload of %d bytes", lo)
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	size := lo
	// Every accepted try is stored: take them all, the last is the largest.
	t.Logf("largest payload the broker accepted: %d bytes", size)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var m *danube.Message
	var err error
	for err == nil && (m == nil || len(m.Payload) != size) {
		m, err = cons.Receive(ctx)
		if err == nil {
			t.Logf("received %d bytes at offset %d", len(m.Payload), m.ID.Offset)
			_ = cons.Ack(ctx, m)
		}
	}
	switch {
	case err == nil:
		if len(m.Payload) != size {
			t.Fatalf("received %d bytes, want %d", len(m.Payload), size)
		}
	case ctx.Err() != nil:
		t.Fatalf("the consumer neither delivered the %d-byte message nor reported a failure within 15s: %v", size, err)
	default:
		t.Logf("the consumer reported: %v", err)
	}
}

// TestMessageOverReceiveLimitStopsPartition: a delivery larger than the
// client's receive limit stops its partition with an error that names the
// limit and the option, once, instead of subscribing again for ever.
func TestMessageOverReceiveLimitStopsPartition(t *testing.T) {
	e := newEnv(t)
	const limit = 64 << 10
	c := e.client(t, danube.WithMaxReceiveMessageSize(limit))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "s", Name: "c1"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	send(t, p, "small")
	if err := p.Send(testContext(t), danube.Message{Payload: make([]byte, 2*limit)}); err != nil {
		t.Fatalf("Send of %d bytes: %v", 2*limit, err)
	}

	m := receive(t, cons)
	if string(m.Payload) != "small" {
		t.Fatalf("first message = %q, want small", m.Payload)
	}
	ack(t, cons, m)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m, err := cons.Receive(ctx)
	if err == nil {
		t.Fatalf("Receive returned a message of %d bytes, want the receive limit's error", len(m.Payload))
	}
	if ctx.Err() != nil {
		t.Fatalf("Receive waited until its context ended: %v", err)
	}
	if !errors.Is(err, danube.ErrMessageTooLarge) {
		t.Errorf("Receive error %v does not match ErrMessageTooLarge", err)
	}
	if danube.IsRetryable(err) {
		t.Errorf("Receive error %v is retryable, want not", err)
	}
	var de *danube.Error
	if !errors.As(err, &de) || de.Topic != name || de.Code != codes.OutOfRange {
		t.Errorf("Receive error %#v, want an *Error for %s with code OutOfRange", err, name)
	}
	if !strings.Contains(err.Error(), "WithMaxReceiveMessageSize") {
		t.Errorf("Receive error %q does not name the option that raises the limit", err)
	}

	// The partition stopped: no second report, no message.
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if m, err := cons.Receive(short); short.Err() == nil {
		t.Fatalf("Receive after the partition stopped = %v, %v; want nothing until the context ends", m, err)
	}
}

// TestSendOverBrokerLimitFailsAtOnce: a message larger than the broker's
// gRPC server accepts fails the send with ErrMessageTooLarge, without
// retrying until the context ends.
func TestSendOverBrokerLimitFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	p := newProducer(t, c, danube.ProducerOptions{Topic: topic(t), Reliable: true})

	ctx := testContext(t)
	err := p.Send(ctx, danube.Message{Payload: make([]byte, 4<<20)})
	if err == nil {
		t.Fatal("Send of 4 MiB succeeded, want the broker's size limit")
	}
	if ctx.Err() != nil {
		t.Fatalf("Send retried until its context ended: %v", err)
	}
	if !errors.Is(err, danube.ErrMessageTooLarge) {
		t.Errorf("Send error %v does not match ErrMessageTooLarge", err)
	}
	if danube.IsRetryable(err) {
		t.Errorf("Send error %v is retryable, want not", err)
	}
	send(t, p, "after") // the producer still works
}

func TestMaxReceiveMessageSizeMustBePositive(t *testing.T) {
	for _, n := range []int{0, -1} {
		_, err := danube.NewClient("127.0.0.1:6650", danube.WithMaxReceiveMessageSize(n))
		if !errors.Is(err, danube.ErrInvalidArgument) {
			t.Errorf("NewClient with WithMaxReceiveMessageSize(%d) = %v, want ErrInvalidArgument", n, err)
		}
	}
}
