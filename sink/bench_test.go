package sink

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
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
	cpu := cpuTime()
	start := time.Now()
	for range b.N {
		producer.SendAsync(ctx, danube.Message{Payload: payload}, nil)
	}
	select {
	case <-conn.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d records written", conn.n.Load(), b.N)
	}
	elapsed := time.Since(start)
	cpu = cpuTime() - cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

// BenchmarkSinkCatchUp measures how fast one route of the runtime drains
// a backlog. The b.N messages are published while nothing consumes them.
// The timed part is the runtime subscribing again, receiving, batching,
// writing to a connector that writes nothing, and acknowledging, until
// the broker has every acknowledgement; nothing else runs in the process
// meanwhile. The consumer=client cases do the same with a plain loop of
// ReceiveBatch and AckAsync: the client's own speed, the ceiling of the
// runtime's.
//
// Besides records/s it reports cpu-ns/record: the process's CPU time,
// user and system, per record, the in-process broker's included. It moves
// less than the rate when other work shares the machine.
func BenchmarkSinkCatchUp(b *testing.B) {
	for _, window := range []int{10, 1000} {
		for _, consumer := range []string{"runtime", "client"} {
			b.Run(fmt.Sprintf("window=%d/consumer=%s", window, consumer), func(b *testing.B) {
				benchmarkCatchUp(b, window, consumer == "client")
			})
		}
	}
}

func benchmarkCatchUp(b *testing.B, window int, plain bool) {
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

	conn := &countConn{}
	cfg := DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "bench"
	cfg.DanubeTopic = []string{testTopic}
	rt, err := New(conn, cfg, Options{Logger: testLogger(), Client: client})
	if err != nil {
		b.Fatal(err)
	}

	// A first run creates the subscription, which starts at the latest
	// message. The backlog is published once that run stopped.
	stop := runInBackground(rt)
	for rt.Ready(ctx) != nil {
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: testTopic, Reliable: true, MaxInFlight: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	msg := danube.Message{Payload: make([]byte, 256)}
	for range b.N {
		producer.SendAsync(ctx, msg, nil)
	}
	if err := producer.Flush(ctx); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	start := time.Now()
	if plain {
		consumeAndAck(b, client, cfg)
	} else {
		stop = runInBackground(rt)
		waitCursor(b, broker, cfg.ConnectorName, func() bool { return rt.Stats()[0].Acked >= uint64(b.N) })
	}
	elapsed := time.Since(start)
	cpu = cpuTime() - cpu
	b.StopTimer()

	if !plain {
		if err := stop(); err != nil {
			b.Fatalf("Run: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

// runInBackground starts rt.Run and returns the function that stops it
// and returns its result.
func runInBackground(rt *Runtime) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// consumeAndAck consumes b.N messages of the runtime's subscription with
// the client alone, as the runtime's route would, and waits until the
// broker has every acknowledgement.
func consumeAndAck(b *testing.B, client *danube.Client, cfg Config) {
	ctx := context.Background()
	route := cfg.resolveRoutes()[0]
	cons, err := client.NewConsumer(ctx, danube.ConsumerOptions{
		Topic:        route.Topic,
		Subscription: route.SubscriptionName,
		Name:         route.ConsumerName,
		Type:         route.SubscriptionType.danube(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()

	var acked sync.WaitGroup
	var failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		acked.Done()
	}
	buf := make([]*danube.Message, 128)
	for received := 0; received < b.N; {
		n, err := cons.ReceiveBatch(ctx, buf[:min(len(buf), b.N-received)])
		if err != nil {
			b.Fatal(err)
		}
		acked.Add(n)
		for _, m := range buf[:n] {
			cons.AckAsync(m, done)
		}
		received += n
	}
	acked.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d acks failed", n)
	}
}

// waitCursor waits until the broker's cursor of sub has passed the last
// of b.N messages. It looks only once ready reports true, since a look
// copies the subscription's window. The broker may deliver a message
// twice when a consumer comes back, so a count of records alone does not
// tell that every one was acked.
func waitCursor(b *testing.B, broker *danubetest.Broker, sub string, ready func() bool) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if ready() {
			st, _ := broker.Subscription(testTopic, sub)
			if st.Cursor == int64(b.N)-1 {
				return
			}
		}
		if time.Now().After(deadline) {
			st, _ := broker.Subscription(testTopic, sub)
			b.Fatalf("cursor at %d after 5 minutes, want %d", st.Cursor, b.N-1)
		}
		time.Sleep(time.Millisecond) // polling an outcome
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
