package sink

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// countConn writes nothing and counts the records, closing done when it
// has seen want of them.
type countConn struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countConn) Open(context.Context) error   { return nil }
func (c *countConn) Close(context.Context) error  { return nil }
func (c *countConn) Health(context.Context) error { return nil }

func (c *countConn) Write(_ context.Context, batch []*Record) error {
	if c.n.Add(int64(len(batch))) >= c.want && c.want > 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
	return nil
}

// BenchmarkSinkThroughput measures records per second from publish to
// acknowledgement through one route of the runtime, against the
// in-process broker, with a connector that writes nothing: the runtime's
// and the broker's cost, not a target system's. Each window is the
// broker's in-flight limit per subscription.
func BenchmarkSinkThroughput(b *testing.B) {
	for _, window := range []int{10, 1000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			benchmarkThroughput(b, window)
		})
	}
}

func benchmarkThroughput(b *testing.B, window int) {
	ctx := context.Background()
	broker := danubetest.Start(b, danubetest.WithWindow(window))
	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(ctx, testTopic, danube.TopicOptions{Reliable: true}); err != nil {
		b.Fatal(err)
	}
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()

	conn := &countConn{want: int64(b.N), done: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "bench"
	cfg.DanubeTopic = []string{testTopic}
	rt, err := New(conn, cfg, Options{Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	for rt.Ready(ctx) != nil {
		time.Sleep(time.Millisecond)
	}

	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: testTopic, Reliable: true})
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	payload := make([]byte, 256)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		producer.SendAsync(ctx, danube.Message{Payload: payload}, nil)
	}
	select {
	case <-conn.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d records written", conn.n.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
