package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// publishInFlight is the number of sends the measured producer keeps in
// flight: the client's default.
const publishInFlight = danube.DefaultMaxInFlight

// testBroker is an in-process broker with one reliable topic and a client
// of it.
type testBroker struct {
	broker *danubetest.Broker
	client *danube.Client
	topic  string
}

// startBroker starts a broker with the given window, creates the reliable
// topic and connects a client.
func startBroker(window int, topic string) (*testBroker, error) {
	broker, err := danubetest.New(danubetest.WithWindow(window))
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if err := broker.CreateTopic(topic, true); err != nil {
		broker.Close()
		return nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		broker.Close()
		return nil, err
	}
	return &testBroker{broker: broker, client: client, topic: topic}, nil
}

// close closes the client and the broker.
func (b *testBroker) close() {
	_ = b.client.Close()
	b.broker.Close()
}

// subscribe creates the Exclusive subscription sub, with a consumer of the
// same name that leaves at once, so that what is published afterwards
// waits for the next consumer of that name.
func (b *testBroker) subscribe(ctx context.Context, sub string) error {
	c, err := b.client.NewConsumer(ctx, danube.ConsumerOptions{Topic: b.topic, Subscription: sub, Name: sub, Type: danube.Exclusive})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", sub, err)
	}
	return c.Close()
}

// publish sends n messages with the payloads payload(0) … payload(n-1),
// publishInFlight at a time, and returns once the broker stored them all,
// with the time that took.
func (b *testBroker) publish(ctx context.Context, n int, payload func(i int) []byte) (time.Duration, error) {
	p, err := b.client.NewProducer(ctx, danube.ProducerOptions{Topic: b.topic, Reliable: true, MaxInFlight: publishInFlight})
	if err != nil {
		return 0, fmt.Errorf("create producer: %w", err)
	}
	defer p.Close()

	var failed atomic.Int64
	var firstErr atomic.Value
	done := func(err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	start := time.Now()
	for i := range n {
		p.SendAsync(ctx, danube.Message{Payload: payload(i)}, done)
	}
	if err := p.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start)
	if k := failed.Load(); k > 0 {
		return 0, fmt.Errorf("%d of %d sends failed, the first with: %w", k, n, firstErr.Load().(error))
	}
	return elapsed, nil
}

// consumeAll receives n messages of sub with Receive and acknowledges each
// with AckAsync, and returns the time from the consumer's creation until
// the last acknowledgement returned.
func (b *testBroker) consumeAll(ctx context.Context, sub string, n int) (time.Duration, error) {
	start := time.Now()
	c, err := b.client.NewConsumer(ctx, danube.ConsumerOptions{Topic: b.topic, Subscription: sub, Name: sub, Type: danube.Exclusive})
	if err != nil {
		return 0, fmt.Errorf("subscribe %s: %w", sub, err)
	}
	defer c.Close()

	var acked sync.WaitGroup
	var failed atomic.Int64
	acked.Add(n)
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		acked.Done()
	}
	for i := range n {
		m, err := c.Receive(ctx)
		if err != nil {
			acked.Add(-(n - i)) // the acks that will never be made
			acked.Wait()
			return 0, fmt.Errorf("receive message %d of %d: %w", i+1, n, err)
		}
		c.AckAsync(m, done)
	}
	acked.Wait()
	elapsed := time.Since(start)
	if k := failed.Load(); k > 0 {
		return 0, fmt.Errorf("%d of %d acknowledgements failed", k, n)
	}
	return elapsed, nil
}

// measureClient measures the client's publishing and consuming rates
// against the in-process broker.
func (s *suite) measureClient(ctx context.Context, sec *Section) error {
	n := s.cfg.ClientMessages
	payload := make([]byte, 100)
	samePayload := func(int) []byte { return payload }
	sec.Note = fmt.Sprintf("%d messages of 100 bytes over loopback to a danubetest broker in this process, one message per unary call "+
		"as the protocol requires, so the broker's cost is part of every figure. Publish: Producer.SendAsync with %d sends in flight, "+
		"until Flush returns. Consume + ack: the backlog is published first, then one Exclusive consumer catches up with Receive "+
		"and AckAsync, timed until the last acknowledgement returned. Each figure is the median of %d runs, each on a new broker.",
		n, publishInFlight, s.cfg.NetRepeat)
	versus, unary := s.unaryCeiling()

	rate, runs, err := medianRuns(s.cfg.NetRepeat, func() (float64, error) {
		runtime.GC()
		b, err := startBroker(1000, "/default/publish")
		if err != nil {
			return 0, err
		}
		defer b.close()
		elapsed, err := b.publish(ctx, n, samePayload)
		return float64(n) / elapsed.Seconds(), err
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	sec.Rows = append(sec.Rows, atLeastRow(Row{
		Name: fmt.Sprintf("publish, pipelined (%d in flight)", publishInFlight), Value: Rate(rate, "msgs"), Runs: runs,
		Versus: versus, Ratio: ratio(rate, unary),
	}, 50_000, "msgs"))

	for _, window := range []int{10, 100, 1000} {
		rate, runs, err := medianRuns(s.cfg.NetRepeat, func() (float64, error) {
			runtime.GC()
			b, err := startBroker(window, "/default/consume")
			if err != nil {
				return 0, err
			}
			defer b.close()
			if err := b.subscribe(ctx, "bench"); err != nil {
				return 0, err
			}
			if _, err := b.publish(ctx, n, samePayload); err != nil {
				return 0, fmt.Errorf("publish the backlog: %w", err)
			}
			elapsed, err := b.consumeAll(ctx, "bench", n)
			return float64(n) / elapsed.Seconds(), err
		})
		if err != nil {
			return fmt.Errorf("consume + ack, window %d: %w", window, err)
		}
		row := Row{Name: fmt.Sprintf("consume + ack, window %d", window), Value: Rate(rate, "msgs"), Runs: runs, Versus: versus, Ratio: ratio(rate, unary)}
		if window == 1000 {
			row = atLeastRow(row, 50_000, "msgs")
		}
		sec.Rows = append(sec.Rows, row)
	}
	return nil
}
