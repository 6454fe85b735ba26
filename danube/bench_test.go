package danube_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// The benchmarks run over loopback against danubetest, so the broker's own
// cost is part of every figure. Run them with
//
//	go test -run '^$' -bench . -benchmem ./danube/
//
// msgs/s is the figure to compare; ns/op is per message.

var benchPayload = make([]byte, 100)

// BenchmarkPublishPipelined publishes b.N messages with SendAsync, several
// in flight at once, to a reliable topic, and waits for every
// acknowledgement.
func BenchmarkPublishPipelined(b *testing.B) {
	for _, bc := range []struct {
		inFlight, conns int
	}{
		{64, 1}, {256, 1}, {1024, 1}, {256, 2}, {256, 4},
	} {
		b.Run(fmt.Sprintf("inflight=%d/conns=%d", bc.inFlight, bc.conns), func(b *testing.B) {
			br := danubetest.Start(b)
			c, err := danube.NewClient(br.URL(), danube.WithConnectionsPerBroker(bc.conns))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			p, err := c.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/bench", Reliable: true, MaxInFlight: bc.inFlight})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()

			var failed atomic.Int64
			done := func(err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			msg := danube.Message{Payload: benchPayload}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				p.SendAsync(ctx, msg, done)
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()

			if n := failed.Load(); n > 0 {
				b.Fatalf("%d sends failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkPublishBlocking publishes b.N messages with Send from 64
// goroutines, the pattern of a server whose handlers each publish.
func BenchmarkPublishBlocking(b *testing.B) {
	br := danubetest.Start(b)
	c, err := danube.NewClient(br.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p, err := c.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/bench", Reliable: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	b.ReportAllocs()
	b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		msg := danube.Message{Payload: benchPayload}
		for pb.Next() {
			if err := p.Send(ctx, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkConsumeAck receives and acknowledges b.N messages of a reliable
// subscription, for several broker windows (max_unacked_messages). The
// messages are published before the timer starts, while no consumer is
// connected; the timed part is the consumer catching up.
func BenchmarkConsumeAck(b *testing.B) {
	for _, window := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			br := danubetest.Start(b, danubetest.WithWindow(window))
			c, err := danube.NewClient(br.URL())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			const topic, sub = "/default/bench", "sub"

			p, err := c.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true, MaxInFlight: 256})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()

			// Create the subscription, then leave it without a consumer
			// while the backlog is published.
			first, err := c.NewConsumer(ctx, danube.ConsumerOptions{Topic: topic, Subscription: sub, Name: "bench", Type: danube.Exclusive})
			if err != nil {
				b.Fatal(err)
			}
			_ = first.Close()
			msg := danube.Message{Payload: benchPayload}
			for range b.N {
				p.SendAsync(ctx, msg, nil)
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}

			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cons, err := c.NewConsumer(ctx, danube.ConsumerOptions{Topic: topic, Subscription: sub, Name: "bench", Type: danube.Exclusive})
			if err != nil {
				b.Fatal(err)
			}
			var acked sync.WaitGroup
			acked.Add(b.N)
			var failed atomic.Int64
			done := func(err error) {
				if err != nil {
					failed.Add(1)
				}
				acked.Done()
			}
			for range b.N {
				m, err := cons.Receive(ctx)
				if err != nil {
					b.Fatal(err)
				}
				cons.AckAsync(m, done)
			}
			acked.Wait()
			elapsed := time.Since(start)
			b.StopTimer()

			_ = cons.Close()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d acks failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
