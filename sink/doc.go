// Package sink runs connectors that move messages from Danube topics into
// another system. A connector implements four methods: Open, Write, Close
// and Health. The runtime does the rest under a supervision tree: it
// consumes, batches, writes, retries, dead-letters and acknowledges. It
// stops without losing anything it received or leaving it unsettled.
//
// # Routes and batches
//
// A Runtime consumes one or more routes: a topic with its subscription
// (name, type and, for Key-Shared, key filters). Each route has its own
// pipeline from package stage: receive, the stages of Options.Transform,
// batch, write, ack. Batches hold records of one route in publish order,
// up to BATCH_SIZE records or BATCH_MAX_BYTES, and are written as soon as
// nothing more is ready, or
// after BATCH_TIMEOUT_MS at the latest: a broker that sends only ten
// unacknowledged messages at a time, its default window, never stalls a
// sink waiting for a batch of a thousand.
//
// Write calls come one at a time, even across routes, unless the
// connector implements ConcurrentWriter. A record carries its topic,
// partition, offset and delivery attempt, enough to write idempotently:
// the broker delivers a message again after a nack, a lost
// acknowledgement, a reconnect or a restart, so a record may come twice.
//
// # Stages of your own
//
// Options.Transform adds stages between receiving and batching, in every
// route: filters, maps that enrich or rewrite records, splits, built with
// package stage's Then, Filter, Map and FlatMap, typed and checked by the
// compiler. The runtime's guarantees hold for them: a record a filter
// drops is acked, one whose function fails is dead-lettered or nacked,
// and every record is settled exactly once.
//
//	opts.Transform = func(_ sink.Route, in stage.Flow[*sink.Record]) stage.Flow[*sink.Record] {
//		kept := stage.Then(in, "drop-heartbeats", stage.Filter(isNotHeartbeat))
//		return stage.Then(kept, "enrich", stage.Map(addCustomer))
//	}
//
// A pipeline can also be built by hand from the runtime's own parts:
// NewSource is the stage.Source of a danube consumer, which settles every
// record with the broker, and NewWriter the stage.Writer of any
// Connector, which turns its error classes into retries, dead letters
// and nacks. That is how a connector, such as the MongoDB one, becomes
// the write stage of a pipeline of any shape.
//
// # Failures
//
// Write reports failures per record with a *BatchError, each classed:
//
//   - Retryable (or unclassed): the record is written again, alone with
//     the other failed records and never with those already written,
//     after RETRY_BACKOFF_MS doubling up to MAX_BACKOFF_MS, MAX_RETRIES
//     times, and then nacked so that the broker delivers it again.
//   - InvalidData: the record is published to DEAD_LETTER_TOPIC, a
//     reliable topic, with attributes naming its origin (AttrOriginalTopic
//     and the others), and acked once the broker stored it; without a
//     dead-letter topic it is nacked.
//   - Fatal: the connector is closed and the routes nack what they hold;
//     the supervisor then opens the connector again after a backoff
//     delay, and gives up, making Run return the error, when that happens
//     too often.
//
// A panic in Write nacks the batch and restarts the write stage. Nothing
// the runtime received is ever dropped without an ack or a nack.
//
// # Stopping
//
// When Run's context ends, every route stops receiving, writes what it
// holds, acknowledges it, and closes its consumer, all within
// DRAIN_TIMEOUT_MS; what is still unwritten then is nacked. Force cuts the
// stop short, even while a batch waits to be retried. RunWithSignals does both for a binary: the first SIGTERM or
// SIGINT drains, a second one forces, and ExitCode turns the result into
// the process's exit status.
//
// # Configuration, health, instrumentation
//
// LoadConfig reads a Config from a YAML file and the environment, with the
// variable names of Danube's Rust connector framework (DANUBE_SERVICE_URL,
// DANUBE_TOPIC, SUBSCRIPTION_NAME, BATCH_SIZE, ...), and reports every
// problem at once. Ready and Live are the readiness and liveness checks.
// Options take an OpenTelemetry MeterProvider and TracerProvider: stage
// metrics, supervisor restarts, and a span per batch write linked to the
// trace context that each message carries.
//
// # Example
//
//	type printer struct{}
//
//	func (printer) Open(context.Context) error   { return nil }
//	func (printer) Close(context.Context) error  { return nil }
//	func (printer) Health(context.Context) error { return nil }
//	func (printer) Write(ctx context.Context, batch []*sink.Record) error {
//		for _, r := range batch {
//			fmt.Printf("%s@%d: %s\n", r.Topic, r.Offset, r.Payload)
//		}
//		return nil
//	}
//
//	cfg, err := sink.LoadConfig("") // the file named by CONNECTOR_CONFIG_PATH, if set
//	if err != nil {
//		log.Fatal(err) // every problem, one per line
//	}
//	rt, err := sink.New(printer{}, cfg, sink.Options{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = rt.RunWithSignals(context.Background()) // until SIGTERM, then drains
//	os.Exit(sink.ExitCode(err))
package sink
