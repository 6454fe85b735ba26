package danubetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// maxStart is the bound on the mean time of New. The measured mean is far
// lower; the bound is generous so that a loaded machine does not fail it.
const maxStart = 50 * time.Millisecond

// BenchmarkStart measures New followed by Close, reports the mean time of
// New in "ms/start" and fails if it exceeds maxStart.
func BenchmarkStart(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		br, err := danubetest.New()
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		br.Close()
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/start")
	if mean > maxStart {
		b.Errorf("New took %v on average, want at most %v", mean, maxStart)
	}
}

// BenchmarkUnaryBaseline makes 100,000 HealthCheck calls from 64 goroutines
// and reports calls per second: the ceiling of unary gRPC on the machine,
// to read the other rates against.
func BenchmarkUnaryBaseline(b *testing.B) {
	const (
		calls   = 100_000
		callers = 64
	)
	br := danubetest.Start(b)
	c := dial(b, br.Addr())
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < calls; i += callers {
					if _, err := c.health.HealthCheck(context.Background(), &danubepb.HealthCheckRequest{Id: uint64(i)}); err != nil {
						b.Error(err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		total += time.Since(start)
	}
	b.ReportMetric(float64(calls*b.N)/total.Seconds(), "calls/s")
}

// BenchmarkReliableSubscription100k pushes 100,000 messages through one
// reliable subscription with a window of 1000 over the generated stubs:
// first 64 goroutines publish them all, then one stream receives them while
// 64 goroutines acknowledge. It reports both rates: "published/s" for the
// first phase and "msgs/s", consumed and acknowledged, for the second.
func BenchmarkReliableSubscription100k(b *testing.B) {
	const (
		messages = 100_000
		senders  = 64
		ackers   = 64
		window   = 1000
	)
	br := danubetest.Start(b, danubetest.WithWindow(window))
	c := dial(b, br.Addr())
	payload := make([]byte, 100)

	var publishing, consuming time.Duration
	round := 0
	for b.Loop() {
		topic := fmt.Sprintf("/default/bench%d", round)
		round++
		pid := c.createProducer(b, topic, "p", true)
		cid := c.subscribe(b, topic, "sub", "c", danubepb.ConsumerRequest_Exclusive)
		ctx, cancel := context.WithCancel(context.Background())

		start := time.Now()
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				for i := s; i < messages; i += senders {
					m := &danubepb.StreamMessage{
						RequestId: uint64(i),
						MsgId:     &danubepb.MsgID{ProducerId: pid, TopicName: topic},
						Payload:   payload,
					}
					if _, err := c.producer.SendMessage(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			}(s)
		}
		wg.Wait()
		publishing += time.Since(start)

		start = time.Now()
		rs, err := c.consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{ConsumerId: cid})
		if err != nil {
			b.Fatal(err)
		}
		acks := make(chan *danubepb.MsgID, window)
		for a := 0; a < ackers; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range acks {
					if _, err := c.consumer.Ack(ctx, &danubepb.AckRequest{MsgId: id, SubscriptionName: "sub"}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		for received := 0; received < messages; received++ {
			m, err := rs.Recv()
			if err != nil {
				b.Fatal(err)
			}
			acks <- m.GetMsgId()
		}
		close(acks)
		wg.Wait()
		consuming += time.Since(start)
		cancel()
	}
	b.ReportMetric(float64(messages*b.N)/publishing.Seconds(), "published/s")
	b.ReportMetric(float64(messages*b.N)/consuming.Seconds(), "msgs/s")
}
