package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// printer is a sink connector that prints each record. A real one writes
// the batch to its system, and returns a *sink.BatchError naming the
// records that failed, each marked sink.Retryable, sink.InvalidData or
// sink.Fatal.
type printer struct {
	written chan int // receives the size of every batch written
}

func (p *printer) Open(context.Context) error   { return nil }
func (p *printer) Close(context.Context) error  { return nil }
func (p *printer) Health(context.Context) error { return nil }

func (p *printer) Write(_ context.Context, batch []*sink.Record) error {
	for _, r := range batch {
		fmt.Printf("%s offset %d, attempt %d: %s\n", r.Topic, r.Offset, r.Attempt, r.Payload)
	}
	p.written <- len(batch)
	return nil
}

// A custom connector runs against an in-process broker. A program would
// load its configuration with sink.LoadConfig and run with
// RunWithSignals.
func Example() {
	broker, err := danubetest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	ctx := context.Background()

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "printer"
	cfg.DanubeTopic = []string{"/default/greetings"}
	conn := &printer{written: make(chan int, 16)}
	rt, err := sink.New(conn, cfg, sink.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}

	// The sink subscribes first: a new subscription starts at the latest
	// message.
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/greetings", Reliable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	for rt.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}

	for _, text := range []string{"hello", "bonjour", "hallo"} {
		if err := producer.Send(ctx, danube.Message{Payload: []byte(text)}); err != nil {
			log.Fatal(err)
		}
	}
	for n := 0; n < 3; n += <-conn.written {
	}

	stop()
	fmt.Println("stopped:", <-done)
	st := rt.Stats()[0]
	fmt.Println("acked:", st.Acked, "in flight:", st.InFlight)
	// Output:
	// /default/greetings offset 0, attempt 1: hello
	// /default/greetings offset 1, attempt 1: bonjour
	// /default/greetings offset 2, attempt 1: hallo
	// stopped: <nil>
	// acked: 3 in flight: 0
}

// Stages of the caller's own run in every route, between receiving and
// batching: here a filter that drops heartbeats, which acks them, and a
// map that rewrites each record before the connector gets it.
func ExampleOptions_transform() {
	broker, err := danubetest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	ctx := context.Background()

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "printer"
	cfg.DanubeTopic = []string{"/default/greetings"}
	conn := &printer{written: make(chan int, 16)}
	rt, err := sink.New(conn, cfg, sink.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Transform: func(_ sink.Route, records stage.Flow[*sink.Record]) stage.Flow[*sink.Record] {
			beats := stage.Then(records, "drop-heartbeats", stage.Filter(func(r *sink.Record) bool {
				return r.Attributes["kind"] != "heartbeat"
			}))
			return stage.Then(beats, "shout", stage.Map(func(_ context.Context, r *sink.Record) (*sink.Record, error) {
				loud := *r
				loud.Payload = bytes.ToUpper(r.Payload)
				return &loud, nil
			}))
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/greetings", Reliable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	for rt.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}

	for _, msg := range []danube.Message{
		{Payload: []byte("hello")},
		{Payload: []byte("ping"), Attributes: map[string]string{"kind": "heartbeat"}},
		{Payload: []byte("bonjour")},
	} {
		if err := producer.Send(ctx, msg); err != nil {
			log.Fatal(err)
		}
	}
	for n := 0; n < 2; n += <-conn.written {
	}

	stop()
	fmt.Println("stopped:", <-done)
	st := rt.Stats()[0]
	fmt.Println("acked:", st.Acked, "in flight:", st.InFlight)
	// Output:
	// /default/greetings offset 0, attempt 1: HELLO
	// /default/greetings offset 2, attempt 1: BONJOUR
	// stopped: <nil>
	// acked: 3 in flight: 0
}

// A pipeline built by hand from the sink's Source and Writer, with a stage
// of the caller's own between them, runs without the Runtime: the caller
// subscribes, runs the pipeline and closes what it opened.
func ExampleNewWriter() {
	broker, err := danubetest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	ctx := context.Background()
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// The producer creates the topic. Subscribe before publishing: a new
	// subscription starts at the latest message.
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/greetings", Reliable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{
		Topic: "/default/greetings", Subscription: "printer", Type: danube.Exclusive,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close() // after the Source's Close, so that every ack lands

	conn := &printer{written: make(chan int, 16)}
	source := sink.NewSource(consumer, sink.SourceOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	writer := sink.NewWriter(conn, sink.WriterOptions{})
	p := stage.New("greetings", stage.Options{})
	records := stage.From(p, "receive", stage.Source[*sink.Record](source))
	short := stage.Then(records, "short", stage.Filter(func(r *sink.Record) bool { return len(r.Payload) <= 5 }))
	batches := stage.Batch(short, "batch", stage.BatchOptions{MaxCount: 100})
	stage.Write(batches, "write", stage.Writer[*sink.Record](writer), stage.WriteOptions{})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	for _, text := range []string{"hello", "good morning", "hallo"} {
		if err := producer.Send(ctx, danube.Message{Payload: []byte(text)}); err != nil {
			log.Fatal(err)
		}
	}
	for n := 0; n < 2; n += <-conn.written {
	}

	stop()
	fmt.Println("stopped:", <-done)
	fmt.Println("source closed:", source.Close(ctx))
	fmt.Println("writer closed:", writer.Close(ctx))
	st := p.Stats()
	fmt.Println("acked:", st.Acked, "in flight:", st.InFlight)
	// Output:
	// /default/greetings offset 0, attempt 1: hello
	// /default/greetings offset 2, attempt 1: hallo
	// stopped: <nil>
	// source closed: <nil>
	// writer closed: <nil>
	// acked: 3 in flight: 0
}
