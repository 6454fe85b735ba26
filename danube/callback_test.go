package danube_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// These tests call Close, Ack and Nack from the callbacks of SendAsync,
// AckAsync, NackAsync and OnAsyncError. A deadlock there fails the test
// after hangTimeout instead of hanging the test binary.

// hangTimeout bounds each wait that a deadlock would make endless.
const hangTimeout = 10 * time.Second

// within fails the test unless ch is closed within hangTimeout.
func within(t *testing.T, ch <-chan struct{}, event string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hangTimeout):
		t.Fatalf("%s did not happen within %v: deadlock", event, hangTimeout)
	}
}

// receiveWithin returns the value sent on ch, failing the test after
// hangTimeout.
func receiveWithin[V any](t *testing.T, ch <-chan V, event string) V {
	t.Helper()
	var v V
	select {
	case v = <-ch:
	case <-time.After(hangTimeout):
		t.Fatalf("%s did not happen within %v: deadlock", event, hangTimeout)
	}
	return v
}

// doneWhen returns a channel closed once wg's count is zero.
func doneWhen(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	return ch
}

func TestCallbackClosesProducer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})

	// The first done callback to run closes the producer. Close must wait
	// for every other send and done callback, and return.
	const sends = 20
	var calls [sends]atomic.Int32
	var closing atomic.Bool
	var othersDone atomic.Int32
	othersAtClose := make(chan int32, 1)
	submitted := make(chan struct{})
	var all sync.WaitGroup
	all.Add(sends)
	for i := range sends {
		p.SendAsync(testContext(t), danube.Message{Payload: fmt.Appendf(nil, "m%d", i)}, func(err error) {
			defer all.Done()
			calls[i].Add(1)
			if !closing.CompareAndSwap(false, true) {
				othersDone.Add(1)
				return
			}
			<-submitted
			if err := p.Close(); err != nil {
				t.Errorf("Close from a done callback: %v", err)
			}
			othersAtClose <- othersDone.Load()
		})
	}
	close(submitted)

	if n := receiveWithin(t, othersAtClose, "Close called from a SendAsync callback"); n != sends-1 {
		t.Errorf("Close returned after %d other done callbacks, want all %d", n, sends-1)
	}
	within(t, doneWhen(&all), "every SendAsync callback")
	for i := range sends {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("done of send %d called %d times, want 1", i, n)
		}
	}

	closedErr := make(chan error, 1)
	p.SendAsync(testContext(t), danube.Message{}, func(err error) { closedErr <- err })
	if err := receiveWithin(t, closedErr, "the done callback of SendAsync after Close"); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("SendAsync after Close reported %v, want ErrClosed", err)
	}
}

func TestCallbackClosesConsumer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	const messages = 5
	for i := range messages {
		send(t, p, fmt.Sprint(i))
	}
	var received []*danube.Message
	for range messages {
		received = append(received, receive(t, cons))
	}

	var closing atomic.Bool
	var othersDone atomic.Int32
	othersAtClose := make(chan int32, 1)
	submitted := make(chan struct{})
	for _, m := range received {
		cons.AckAsync(m, func(err error) {
			if err != nil {
				t.Errorf("AckAsync(%d): %v", m.ID.Offset, err)
			}
			if !closing.CompareAndSwap(false, true) {
				othersDone.Add(1)
				return
			}
			<-submitted
			if err := cons.Close(); err != nil {
				t.Errorf("Close from an AckAsync callback: %v", err)
			}
			othersAtClose <- othersDone.Load()
		})
	}
	close(submitted)

	if n := receiveWithin(t, othersAtClose, "Close called from an AckAsync callback"); n != messages-1 {
		t.Errorf("Close returned after %d other done callbacks, want all %d", n, messages-1)
	}
	closedErr := make(chan error, 1)
	cons.AckAsync(received[0], func(err error) { closedErr <- err })
	if err := receiveWithin(t, closedErr, "the done callback of AckAsync after Close"); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("AckAsync after Close reported %v, want ErrClosed", err)
	}
}

func TestOnAsyncErrorClosesConsumer(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	var cons *danube.Consumer
	closed := make(chan struct{})
	cons = newConsumer(t, c, danube.ConsumerOptions{
		Topic:        name,
		Subscription: "sub",
		OnAsyncError: func(_ *danube.Message, err error) {
			if !errors.Is(err, danube.ErrUnknownPartition) {
				t.Errorf("OnAsyncError got %v, want ErrUnknownPartition", err)
			}
			if err := cons.Close(); err != nil {
				t.Errorf("Close from OnAsyncError: %v", err)
			}
			close(closed)
		},
	})

	cons.AckAsync(&danube.Message{ID: danube.MessageID{Topic: "/default/elsewhere"}}, nil)
	within(t, closed, "Close called from OnAsyncError")
	if _, err := cons.Receive(testContext(t)); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Receive after Close = %v, want ErrClosed", err)
	}
}

func TestCallbackClosesClient(t *testing.T) {
	e := newEnv(t)
	c, err := danube.NewClient(e.url)
	if err != nil {
		t.Fatal(err)
	}
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons, err := c.NewConsumer(testContext(t), danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: true})
	if err != nil {
		t.Fatal(err)
	}

	closed := make(chan struct{})
	p.SendAsync(testContext(t), danube.Message{Payload: []byte("x")}, func(err error) {
		if err != nil {
			t.Errorf("SendAsync: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close from a SendAsync callback: %v", err)
		}
		close(closed)
	})

	within(t, closed, "Client.Close called from a SendAsync callback")
	if err := p.Send(testContext(t), danube.Message{}); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Send after Client.Close = %v, want ErrClosed", err)
	}
	if _, err := cons.Receive(testContext(t)); !errors.Is(err, danube.ErrClosed) {
		t.Fatalf("Receive after Client.Close = %v, want ErrClosed", err)
	}
}

func TestCallbackNacksWithOneAckSlot(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", AckConcurrency: 1})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "first")
	send(t, p, "second")
	first, second := receive(t, cons), receive(t, cons)

	// The ack's callback needs the only ack slot for its nack: the slot
	// must be free while the callback runs.
	nacked := make(chan error, 1)
	cons.AckAsync(first, func(err error) {
		if err != nil {
			t.Errorf("AckAsync: %v", err)
		}
		cons.NackAsync(second, 0, "retry", func(err error) { nacked <- err })
	})
	if err := receiveWithin(t, nacked, "NackAsync called from an AckAsync callback"); err != nil {
		t.Fatalf("NackAsync from an AckAsync callback: %v", err)
	}
	if m := receive(t, cons); string(m.Payload) != "second" {
		t.Fatalf("redelivered %q, want the nacked message \"second\"", m.Payload)
	}
}

func TestFailedAcksAnsweredWithNacks(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "failing acks")
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	const slots, messages = 2, 6
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub", AckConcurrency: slots})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	for i := range messages {
		send(t, p, fmt.Sprint(i))
	}
	var received []*danube.Message
	for range messages {
		received = append(received, receive(t, cons))
	}

	// Every ack fails, as in a broker outage, and every callback nacks its
	// message, with more callbacks than ack slots. The acks are
	// submitted on another goroutine: AckAsync itself blocks for good if
	// callbacks hold the slots.
	b.FailNext("Ack", messages, codes.PermissionDenied)
	var nacks sync.WaitGroup
	nacks.Add(messages)
	go func() {
		for _, m := range received {
			cons.AckAsync(m, func(err error) {
				if err == nil {
					t.Errorf("ack of offset %d succeeded while the broker failed acks", m.ID.Offset)
				}
				cons.NackAsync(m, 0, "ack failed", func(err error) {
					if err != nil {
						t.Errorf("nack of offset %d: %v", m.ID.Offset, err)
					}
					nacks.Done()
				})
			})
		}
	}()
	within(t, doneWhen(&nacks), "every NackAsync called from a failed ack's callback")
}
