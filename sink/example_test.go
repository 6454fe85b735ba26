package sink_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/sink"
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
