package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/embedded/ferret"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// The names of the demo's topics, connector, database and collection.
// Neither topic name starts with the other, as docs/operations.md advises:
// the broker finds a topic's partitions by name prefix, so it rejects
// creating /default/orders once /default/orders-dlq exists.
const (
	ordersTopic     = "/default/orders"
	deadLetterTopic = "/default/dead-letters"
	connectorName   = "orders-to-mongodb"
	databaseName    = "shop"
	collectionName  = "orders"
)

// Time limits of the demo: guards against a hang, far above what a run
// takes.
const (
	readyTimeout  = 30 * time.Second
	settleTimeout = 5 * time.Minute
	stopTimeout   = 30 * time.Second
	settlePoll    = 20 * time.Millisecond
)

// runDemo starts the servers and the sink, publishes the events, follows
// the sink until it has settled every one, and returns what it counted.
func runDemo(ctx context.Context, o demoFlags, out io.Writer, logger *slog.Logger) (*result, error) {
	fmt.Fprintln(out, "Starting the embedded MongoDB-compatible server (FerretDB on SQLite, in a temporary directory)")
	srv, err := ferret.Start(ferret.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := srv.Stop(stopTimeout); err != nil {
			logger.Warn("stop the MongoDB-compatible server", "error", err)
		}
	}()

	fmt.Fprintln(out, "Starting an in-process Danube broker and the reliable topic", ordersTopic)
	broker, err := danubetest.New()
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	if err := broker.CreateTopic(ordersTopic, true); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", ordersTopic, err)
	}

	rt, err := newRuntime(o, broker, srv.URI(), logger)
	if err != nil {
		return nil, err
	}
	runCtx, stopSink := context.WithCancel(ctx)
	defer stopSink()
	runDone := make(chan error, 1)
	go func() { runDone <- rt.Run(runCtx) }()

	// A new subscription on a reliable topic starts at the latest
	// message, so the sink subscribes before anything is published.
	fmt.Fprintf(out, "Starting the sink: %s subscribes to %s, dead letters to %s\n", connectorName, ordersTopic, deadLetterTopic)
	if err := waitReady(ctx, rt, runDone); err != nil {
		return nil, err
	}

	total := o.events + o.invalid
	fmt.Fprintf(out, "Publishing %s orders and %s invalid events (seed %d)\n\n", thousands(o.events), thousands(o.invalid), o.seed)
	res := &result{orders: o.events, invalid: o.invalid}
	pub := startPublisher(ctx, broker.URL(), o)
	start := time.Now()
	err = follow(ctx, out, o.progress, rt, pub, total, runDone)
	res.elapsed = time.Since(start)
	res.published = int(pub.published.Load())
	if err != nil {
		return nil, err
	}

	stopSink()
	if err := <-runDone; err != nil {
		return nil, fmt.Errorf("the sink stopped with an error: %w", err)
	}
	st := rt.Stats()[0]
	res.acked, res.deadLettered = st.Acked, st.DeadLettered
	res.deadLetterMessages = len(broker.Messages(deadLetterTopic))

	if err := res.readCollection(ctx, srv.URI()); err != nil {
		return nil, err
	}
	return res, nil
}

// newRuntime returns the sink runtime with the MongoDB connector, set up
// as a production sink would be, with a short batch timeout for an
// interactive run.
func newRuntime(o demoFlags, broker *danubetest.Broker, uri string, logger *slog.Logger) (*sink.Runtime, error) {
	conn, err := mongodb.New(mongodb.Config{
		ConnectionString: uri,
		Database:         databaseName,
		Collection:       collectionName,
		// Ids from the message position: a redelivered order finds its
		// first copy instead of becoming a second document.
		IDStrategy:     mongodb.IDDeterministic,
		TimestampField: "published_at",
	}, mongodb.WithLogger(logger))
	if err != nil {
		return nil, err
	}

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = connectorName
	cfg.DanubeTopic = []string{ordersTopic}
	cfg.DeadLetterTopic = deadLetterTopic
	cfg.BatchSize = o.batch
	cfg.BatchTimeout = 100 * time.Millisecond
	cfg.RetryBackoff = 100 * time.Millisecond
	cfg.MaxBackoff = 5 * time.Second
	// The subscription's policy on the broker: a window of 1000
	// unacknowledged messages rather than the broker's 10, and messages
	// that keep failing moved to the dead-letter topic after 3
	// redeliveries rather than blocking the subscription.
	cfg.Policy = sink.Policy{
		AdminURL:        broker.AdminURL(),
		DispatchWindow:  1000,
		MaxRedeliveries: 3,
		AckTimeout:      30 * time.Second,
		PoisonPolicy:    "dead_letter",
	}
	return sink.New(conn, cfg, sink.Options{Logger: logger})
}

// waitReady waits until the runtime is subscribed and its connector open.
func waitReady(ctx context.Context, rt *sink.Runtime, runDone <-chan error) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(settlePoll)
	defer tick.Stop()
	for {
		err := rt.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case runErr := <-runDone:
			return fmt.Errorf("the sink stopped before it was ready: %w", runErr)
		case <-deadline.C:
			return fmt.Errorf("the sink was not ready within %v: %w", readyTimeout, err)
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// publisher publishes the generated events in a goroutine of its own.
type publisher struct {
	published atomic.Int64
	done      chan struct{}
	err       error // set before done is closed
}

// startPublisher publishes o.events orders with o.invalid invalid events
// spread among them, each order keyed by its customer's id.
func startPublisher(ctx context.Context, url string, o demoFlags) *publisher {
	p := &publisher{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = p.publish(ctx, url, o)
	}()
	return p
}

func (p *publisher) publish(ctx context.Context, url string, o demoFlags) error {
	client, err := danube.NewClient(url)
	if err != nil {
		return err
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: ordersTopic, Name: "order-service", Reliable: true})
	if err != nil {
		return fmt.Errorf("producer on %s: %w", ordersTopic, err)
	}
	defer producer.Close()

	var mu sync.Mutex
	var firstErr error
	done := func(err error) {
		if err == nil {
			p.published.Add(1)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}

	gen := newGenerator(o.seed)
	every := o.events / (o.invalid + 1)
	sentInvalid := 0
	for i := range o.events {
		payload, customerID := gen.order()
		producer.SendAsync(ctx, danube.Message{
			Payload:    payload,
			RoutingKey: customerID,
			Attributes: map[string]string{"event_type": "order_placed", "schema": "order.v1"},
		}, done)
		if sentInvalid < o.invalid && (i+1)%max(every, 1) == 0 {
			sentInvalid++
			producer.SendAsync(ctx, danube.Message{Payload: invalidPayload(sentInvalid)}, done)
		}
	}
	for ; sentInvalid < o.invalid; sentInvalid++ {
		producer.SendAsync(ctx, danube.Message{Payload: invalidPayload(sentInvalid + 1)}, done)
	}
	if err := producer.Flush(ctx); err != nil {
		return fmt.Errorf("flush the producer: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return fmt.Errorf("publish to %s: %w", ordersTopic, firstErr)
	}
	return nil
}

// follow prints a progress line every interval until the sink has settled
// all total events, the publisher or the sink failed, or ctx ended.
func follow(ctx context.Context, out io.Writer, interval time.Duration, rt *sink.Runtime, pub *publisher, total int, runDone <-chan error) error {
	deadline := time.NewTimer(settleTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(settlePoll)
	defer poll.Stop()

	start := time.Now()
	lastLine, lastWritten := start, uint64(0)
	pubDone := pub.done
	for {
		st := rt.Stats()[0]
		if st.Acked+st.DeadLettered >= uint64(total) {
			fmt.Fprintf(out, "%s\n\n", progressLine(time.Since(start), pub.published.Load(), st, 0))
			return nil
		}
		if now := time.Now(); now.Sub(lastLine) >= interval {
			rate := float64(st.Acked-lastWritten) / now.Sub(lastLine).Seconds()
			fmt.Fprintln(out, progressLine(now.Sub(start), pub.published.Load(), st, rate))
			lastLine, lastWritten = now, st.Acked
		}

		select {
		case <-pubDone:
			if pub.err != nil {
				return pub.err
			}
			pubDone = nil // closed: stop selecting it
		case runErr := <-runDone:
			return fmt.Errorf("the sink stopped while events were on their way: %w", runErr)
		case <-deadline.C:
			return fmt.Errorf("the sink settled %d of %d events within %v", st.Acked+st.DeadLettered, total, settleTimeout)
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-poll.C:
		}
	}
}

// progressLine formats one line of progress; a rate of 0 is left out.
func progressLine(elapsed time.Duration, published int64, st sink.RouteStats, rate float64) string {
	line := fmt.Sprintf("  %6.1fs  published %9s   written %9s   dead-lettered %4s",
		elapsed.Seconds(), thousands(int(published)), thousands(int(st.Acked)), thousands(int(st.DeadLettered)))
	if rate > 0 {
		line += fmt.Sprintf("   %8s docs/s", thousands(int(rate)))
	}
	return line
}

// result holds the counts of one run of the demo.
type result struct {
	orders, invalid    int           // generated
	published          int           // stored by the broker
	acked              uint64        // records the sink wrote and acknowledged
	deadLettered       uint64        // records the sink sent to the dead-letter topic
	deadLetterMessages int           // messages on the dead-letter topic
	documents          int64         // documents in the collection
	elapsed            time.Duration // from the first publish to the last settlement
	sample             bson.Raw      // one stored order
}

// readCollection counts the documents of the collection and reads one
// order to show.
func (r *result) readCollection(ctx context.Context, uri string) error {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	coll := client.Database(databaseName).Collection(collectionName)

	if r.documents, err = coll.CountDocuments(ctx, bson.D{}); err != nil {
		return fmt.Errorf("count the documents of %s.%s: %w", databaseName, collectionName, err)
	}
	// An order with a coupon shows most of the document's shapes.
	r.sample, err = coll.FindOne(ctx, bson.D{{Key: "tags", Value: "coupon"}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		r.sample, err = coll.FindOne(ctx, bson.D{}).Raw()
	}
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("read a document of %s.%s: %w", databaseName, collectionName, err)
	}
	return nil
}

// print writes the summary.
func (r *result) print(w io.Writer) {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.acked) / r.elapsed.Seconds()
	}
	fmt.Fprintf(w, "Summary\n")
	fmt.Fprintf(w, "  events published     %s (%s orders, %s invalid)\n", thousands(r.published), thousands(r.orders), thousands(r.invalid))
	fmt.Fprintf(w, "  documents written    %s\n", thousands(int(r.documents)))
	fmt.Fprintf(w, "  dead-lettered        %s\n", thousands(int(r.deadLettered)))
	fmt.Fprintf(w, "  duration             %.2fs\n", r.elapsed.Seconds())
	fmt.Fprintf(w, "  throughput           %s docs/s\n", thousands(int(rate)))
	if r.sample != nil {
		doc, err := bson.MarshalExtJSONIndent(r.sample, false, false, "", "  ")
		if err != nil {
			doc = []byte(err.Error())
		}
		fmt.Fprintf(w, "\nOne stored document (relaxed Extended JSON):\n%s\n", doc)
	}
}

// check returns "" when every order was written once and every invalid
// event dead-lettered, and otherwise what went wrong.
func (r *result) check() string {
	switch {
	case r.published != r.orders+r.invalid:
		return fmt.Sprintf("the broker stored %d events, want %d", r.published, r.orders+r.invalid)
	case r.documents != int64(r.orders):
		return fmt.Sprintf("the collection holds %d documents, want one for each of the %d orders", r.documents, r.orders)
	case r.acked != uint64(r.orders):
		return fmt.Sprintf("the sink acknowledged %d orders, want %d", r.acked, r.orders)
	case r.deadLettered != uint64(r.invalid) || r.deadLetterMessages != r.invalid:
		return fmt.Sprintf("the sink dead-lettered %d events and the dead-letter topic holds %d, want %d", r.deadLettered, r.deadLetterMessages, r.invalid)
	}
	return ""
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
