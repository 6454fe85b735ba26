package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// The MongoDB sink runs as one child of an existing service's supervision
// tree: the supervisor restarts it with backoff if it fails, and when the
// service stops, the sink writes and acknowledges what it holds before the
// tree returns. Documents get the id
// <topic>:<partition>:<offset>:<publish time>, so a message delivered twice
// is stored once.
func Example_mongoDBSinkInService() {
	broker := startBroker() // an in-process Danube broker, for the example
	defer broker.Close()
	createTopic(broker, "/default/orders")
	database := uniqueName("shop")
	logger := slog.New(slog.DiscardHandler) // your service's logger

	conn, err := mongodb.New(mongodb.Config{
		ConnectionString: mongoURI,
		Database:         database,
		Collection:       "orders",
		OmitMetadata:     true,
	}, mongodb.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "orders-to-mongodb"
	cfg.DanubeTopic = []string{"/default/orders"}
	rt, err := sink.New(conn, cfg, sink.Options{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}

	// The runtime bounds its own drain by cfg.DrainTimeout, so the
	// supervisor waits for it without a limit of its own.
	root := supervisor.New("shop")
	err = root.Add(supervisor.Spec{Name: "orders-sink", Child: rt, ShutdownTimeout: -1})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.Run(ctx) }()

	// A new subscription starts at the latest message, so the producer
	// waits until the sink has subscribed.
	waitFor("the sink is ready", func() bool { return rt.Ready(ctx) == nil })
	publish(broker, "/default/orders", `{"order": 1, "total": 25}`, `{"order": 2, "total": 40}`)
	waitFor("both orders are written", func() bool { return rt.Stats()[0].Acked == 2 })

	stop()
	fmt.Println("service stopped:", <-done)
	printDocuments(database, "orders")
	// Output:
	// service stopped: <nil>
	// {"_id":"/default/orders:0:0:1796452200000","order":1,"total":25}
	// {"_id":"/default/orders:0:1:1796452200001","order":2,"total":40}
}

// Options.Transform adds stages of your own between receiving and
// writing. Here a filter skips test orders and a map removes card numbers
// before anything reaches MongoDB. The runtime still settles every
// message: a filtered order is acked, and one that the map rejects goes
// to the dead-letter topic with the error as its reason.
func Example_customStage() {
	broker := startBroker()
	defer broker.Close()
	createTopic(broker, "/default/orders")
	database := uniqueName("shop")
	logger := slog.New(slog.DiscardHandler)

	conn, err := mongodb.New(mongodb.Config{
		ConnectionString: mongoURI,
		Database:         database,
		Collection:       "orders",
		OmitMetadata:     true,
	}, mongodb.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "orders-to-mongodb"
	cfg.DanubeTopic = []string{"/default/orders"}
	cfg.DeadLetterTopic = "/default/dead-letters"

	skipTestsAndRedact := func(_ sink.Route, records stage.Flow[*sink.Record]) stage.Flow[*sink.Record] {
		withoutTests := stage.Then(records, "skip-tests", stage.Filter(func(r *sink.Record) bool {
			return r.Attributes["test"] != "true"
		}))
		return stage.Then(withoutTests, "redact", stage.Map(redactCard))
	}
	rt, err := sink.New(conn, cfg, sink.Options{Logger: logger, Transform: skipTestsAndRedact})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	waitFor("the sink is ready", func() bool { return rt.Ready(ctx) == nil })
	publishMessages(broker, "/default/orders",
		danube.Message{Payload: []byte(`{"order": 1, "card": "4111 1111 1111 1111", "total": 25}`)},
		danube.Message{Payload: []byte(`{"order": 2, "total": 1}`), Attributes: map[string]string{"test": "true"}},
		danube.Message{Payload: []byte(`order 3, total 40`)},
	)
	waitFor("every order is settled", func() bool {
		st := rt.Stats()[0]
		return st.Acked+st.DeadLettered == 3
	})
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	st := rt.Stats()[0]
	fmt.Println("acked:", st.Acked, "dead-lettered:", st.DeadLettered)
	printDocuments(database, "orders")
	for _, m := range broker.Messages("/default/dead-letters") {
		fmt.Printf("dead letter %q: %s\n", m.Payload, m.Attributes[sink.AttrFailureReason])
	}
	// Output:
	// acked: 2 dead-lettered: 1
	// {"_id":"/default/orders:0:0:1796452200000","order":1,"total":25}
	// dead letter "order 3, total 40": stage redact: decode order: invalid character 'o' looking for beginning of value
}

// redactCard removes the card number from an order. A payload that is not
// a JSON object fails the stage, and the runtime dead-letters the record.
func redactCard(_ context.Context, r *sink.Record) (*sink.Record, error) {
	var order map[string]any
	if err := json.Unmarshal(r.Payload, &order); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	delete(order, "card")
	payload, err := json.Marshal(order)
	if err != nil {
		return nil, fmt.Errorf("encode order: %w", err)
	}

	// The record may be shared, so the stage returns a changed copy.
	out := *r
	out.Payload = payload
	return &out, nil
}

// stockLevels is a sink connector that keeps the latest stock level of each
// product, in a map where a real connector would call its system. It
// writes idempotently: a record delivered again sets the same level again.
// The runtime calls Open, Write and Close one at a time, so it needs no
// lock.
type stockLevels struct {
	levels map[string]int
}

func (s *stockLevels) Open(context.Context) error   { return nil } // connect to your system
func (s *stockLevels) Close(context.Context) error  { return nil }
func (s *stockLevels) Health(context.Context) error { return nil } // a cheap ping

// Write stores every record of the batch that it can, and names the others
// in a *sink.BatchError, each marked with its class: a record that names no
// product is invalid data, which no retry can fix. A failure of the system
// itself would be marked sink.Retryable, or sink.Fatal when the connector
// must be opened again.
func (s *stockLevels) Write(_ context.Context, batch []*sink.Record) error {
	var failed []sink.RecordError
	for i, r := range batch {
		var level struct {
			SKU   string `json:"sku"`
			Stock int    `json:"stock"`
		}
		if err := json.Unmarshal(r.Payload, &level); err != nil || level.SKU == "" {
			err := fmt.Errorf("offset %d names no product", r.Offset)
			failed = append(failed, sink.RecordError{Index: i, Err: sink.InvalidData(err)})
			continue
		}
		s.levels[level.SKU] = level.Stock
	}
	if failed != nil {
		return &sink.BatchError{Failures: failed}
	}
	return nil
}

// A connector of your own implements sink.Connector: Open, Write, Close
// and Health. The runtime consumes, batches, retries, dead-letters and
// acknowledges. The connector only writes, and reports each record that
// failed.
func Example_customSinkConnector() {
	broker := startBroker()
	defer broker.Close()
	createTopic(broker, "/default/stock")

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "stock-levels"
	cfg.DanubeTopic = []string{"/default/stock"}
	cfg.DeadLetterTopic = "/default/dead-letters"
	conn := &stockLevels{levels: map[string]int{}}
	rt, err := sink.New(conn, cfg, sink.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	waitFor("the sink is ready", func() bool { return rt.Ready(ctx) == nil })
	publish(broker, "/default/stock", `{"sku": "A-100", "stock": 7}`, `{"sku": "B-200", "stock": 0}`, `{"stock": 3}`)
	waitFor("every record is settled", func() bool {
		st := rt.Stats()[0]
		return st.Acked+st.DeadLettered == 3
	})
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	for _, sku := range slices.Sorted(maps.Keys(conn.levels)) {
		fmt.Printf("%s: %d\n", sku, conn.levels[sku])
	}
	for _, m := range broker.Messages("/default/dead-letters") {
		fmt.Printf("dead letter %s from %s: %s\n", m.Payload, m.Attributes[sink.AttrOriginalTopic], m.Attributes[sink.AttrFailureReason])
	}
	// Output:
	// A-100: 7
	// B-200: 0
	// dead letter {"stock": 3} from /default/stock: offset 2 names no product
}

// lines is a source connector in streaming mode: it publishes the lines of
// a log, and its checkpoint is the number of lines published. It keeps the
// checkpoint in saved, where a real connector would use a file or a table,
// and reads it back through source.Resumer, so that a new process resumes
// after the last line the broker acknowledged.
type lines struct {
	text  []string
	saved *source.Checkpoint
	next  int
}

func (s *lines) LastCheckpoint(context.Context) (source.Checkpoint, error) { return *s.saved, nil }

func (s *lines) Open(_ context.Context, cp source.Checkpoint) error {
	s.next = 0
	if cp != nil {
		n, err := strconv.Atoi(string(cp))
		if err != nil {
			return source.Fatal(fmt.Errorf("invalid checkpoint %q: %w", cp, err))
		}
		s.next = n
	}
	return nil
}

// Stream hands the lines to the runtime, each with the position to resume
// from after it, and returns nil at the end of the input.
func (s *lines) Stream(_ context.Context, emit func(source.Record) error) error {
	for ; s.next < len(s.text); s.next++ {
		err := emit(source.Record{
			Payload:  []byte(s.text[s.next]),
			Position: source.Checkpoint(strconv.Itoa(s.next + 1)),
		})
		if err != nil {
			return err // the runtime stops taking records
		}
	}
	return nil
}

// Commit persists a checkpoint once the broker has acknowledged every line
// up to it.
func (s *lines) Commit(_ context.Context, cp source.Checkpoint) error {
	*s.saved = cp
	return nil
}

func (s *lines) Close(context.Context) error  { return nil }
func (s *lines) Health(context.Context) error { return nil }

// A source connector reads another system and the source runtime publishes
// its records to Danube. The runtime commits a checkpoint only once the
// broker has acknowledged every record before it, so a second process,
// started after the log grew, publishes only the new line.
func Example_sourceConnector() {
	broker := startBroker()
	defer broker.Close()
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	var saved source.Checkpoint // outlives each process, as a file would
	publishLog := func(text ...string) {
		conn := &lines{text: text, saved: &saved}
		rt, err := source.New(client, conn, source.Options{
			Topic:       "/default/log",
			MaxInFlight: 1, // one send at a time keeps the lines in order
			Logger:      slog.New(slog.DiscardHandler),
		})
		if err != nil {
			log.Fatal(err)
		}
		if err := rt.Run(context.Background()); err != nil { // until the end of the input
			log.Fatal(err)
		}
	}
	publishLog("boot", "ready")
	publishLog("boot", "ready", "request 1")

	for _, m := range broker.Messages("/default/log") {
		fmt.Printf("offset %d: %s\n", m.Offset, m.Payload)
	}
	fmt.Println("checkpoint:", string(saved))
	// Output:
	// offset 0: boot
	// offset 1: ready
	// offset 2: request 1
	// checkpoint: 3
}

// order is the value that the pipeline of Example_customPipeline decodes
// each message into.
type order struct {
	ID    int `json:"order"`
	Total int `json:"total"`
}

// decodeOrder decodes a record's payload. An error dead-letters the
// record, or nacks it when the pipeline's source has no dead-letter topic.
func decodeOrder(_ context.Context, r *sink.Record) (order, error) {
	var o order
	err := json.Unmarshal(r.Payload, &o)
	return o, err
}

// sink.NewSource and package stage build a pipeline of your own from a
// Danube consumer: here it decodes each message into an order and hands
// batches of orders to a writer that adds up the revenue. The source
// settles each message with the broker once the writer returned, so an
// order is acked only after it was counted. sink.NewWriter turns any
// sink.Connector, the MongoDB one included, into the writer of such a
// pipeline.
func Example_customPipeline() {
	broker := startBroker()
	defer broker.Close()
	createTopic(broker, "/default/orders")
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)

	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: "/default/orders", Subscription: "revenue"})
	if err != nil {
		log.Fatal(err)
	}
	src := sink.NewSource(consumer, sink.SourceOptions{Connector: "revenue", Logger: logger})
	revenue := 0
	addUp := stage.WriterFunc[order](func(_ context.Context, batch []stage.Msg[order]) error {
		for _, m := range batch {
			revenue += m.Value.Total
		}
		return nil
	})

	p := stage.New("revenue", stage.Options{Logger: logger})
	records := stage.From[*sink.Record](p, "receive", src)
	orders := stage.Then(records, "decode", stage.Map(decodeOrder))
	batches := stage.Batch(orders, "batch", stage.BatchOptions{MaxCount: 100, MaxWait: time.Second})
	stage.Write(batches, "add-up", addUp, stage.WriteOptions{})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	publish(broker, "/default/orders", `{"order": 1, "total": 25}`, `{"order": 2, "total": 40}`, `{"order": 3, "total": 25}`)
	waitFor("every order is counted", func() bool { return p.Stats().Acked == 3 })
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	// Once Run has returned: the source nacks what the consumer still
	// buffers, then the consumer closes.
	if err := src.Close(ctx); err != nil {
		log.Fatal(err)
	}
	if err := consumer.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("revenue:", revenue)
	// Output:
	// revenue: 90
}

// An operator prepares the broker before the first sink subscribes: a
// namespace, a partitioned reliable topic and its dead-letter topic, and
// on every partition the subscription's failure policy and dispatch
// window. The broker fixes a subscription's policy when the subscription
// starts, and its default poison policy, Block, stalls the subscription
// behind a message that keeps failing.
func Example_prepareBroker() {
	broker := startBroker()
	defer broker.Close()
	ctx := context.Background()

	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateNamespace(ctx, "shop"); err != nil {
		log.Fatal(err)
	}
	if err := admin.CreatePartitionedTopic(ctx, "/shop/orders", 4, danube.TopicOptions{Reliable: true}); err != nil {
		log.Fatal(err)
	}
	if err := admin.CreateTopic(ctx, "/shop/dead-letters", danube.TopicOptions{Reliable: true}); err != nil {
		log.Fatal(err)
	}

	policy := danube.FailurePolicy{
		MaxRedeliveryCount:  100,
		AckTimeout:          time.Minute,
		BaseRedeliveryDelay: time.Second,
		MaxRedeliveryDelay:  time.Minute,
		Backoff:             danube.ExponentialBackoff,
		PoisonPolicy:        danube.DeadLetter,
		DeadLetterTopic:     "/shop/dead-letters",
	}
	window := danube.DispatchConfig{MaxUnackedMessages: 1000}
	for i := range 4 {
		partition := danube.PartitionName("/shop/orders", i)
		if err := admin.SetFailurePolicy(ctx, partition, "orders-to-mongodb", policy); err != nil {
			log.Fatal(err)
		}
		if err := admin.SetDispatchConfig(ctx, partition, "orders-to-mongodb", window); err != nil {
			log.Fatal(err)
		}
	}

	stored, _, err := admin.GetFailurePolicy(ctx, "/shop/orders-part-3", "orders-to-mongodb")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("poison messages go to", stored.DeadLetterTopic, "after", stored.MaxRedeliveryCount, "redeliveries")
	// Output:
	// poison messages go to /shop/dead-letters after 100 redeliveries
}
