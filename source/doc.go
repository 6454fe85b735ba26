// Package source is the runtime of source connectors: connectors that read
// from another system (a file, a database, a queue) and publish to Danube.
//
// A connector implements a few methods (Connector) and one of two modes.
// A Poller is asked for records: the runtime calls Poll again at once
// while it returns records, and after Options.PollInterval when it
// returns none. A Streamer pushes records as they come. Each Record carries
// its payload, attributes, an optional routing key and target topic, and
// its Position: an opaque Checkpoint from which the input resumes after
// that record.
//
// # What the runtime guarantees
//
// The Runtime publishes records through a stage pipeline, with all the
// sends of a batch in flight at once, to the record's topic and, on a
// partitioned topic, to the partition of its key. Sends complete in any
// order, so the runtime keeps a ledger of the records in the order the
// connector handed them out, and commits a checkpoint only when the
// broker has acknowledged every record up to it. Commits happen at
// Options.CheckpointInterval, every Options.CheckpointEvery records, and
// when a Run ends. Each Run opens the connector at the last committed
// checkpoint, so after a crash, a kill or a restart the records published
// after it are published again: at least once, never a gap.
//
// A send that fails with UNAVAILABLE or another failure that may pass is
// retried with backoff, first by the Danube client within
// Options.SendTimeout, then by the runtime Options.MaxRetries times. A
// record that cannot be published is never skipped: it holds the
// checkpoint back, and the Run stops with ErrUnpublished. A Poll, Stream
// or Commit error marked Fatal stops the Run too, and so does a panic in
// Stream or Commit. A Runtime is a supervisor.Child, so the supervisor
// above it decides whether to run it again; the next Run resumes from the
// last commit.
//
// A Run starts by creating the producer of its default topic, with the
// same retries as a send. While the broker does not respond, the Run logs
// a warning and waits, not ready. When the retries run out, it fails
// before it reads anything.
//
// When its context ends or a failure stops it, a Run drains: it stops
// taking records, publishes every record it took (those emit accepted,
// and those Poll returned, with an error or without), commits and closes
// the connector, within Options.DrainTimeout of its context ending. The
// records it could not publish in time count as failed, and Run returns
// an error wrapping ErrUnpublished. Force cuts a drain short.
//
// When an Instrumentation with a TracerProvider is configured, each
// message carries the W3C traceparent of its publish span.
//
// # A connector
//
//	type counter struct{ next int }
//
//	func (c *counter) Open(_ context.Context, cp source.Checkpoint) error {
//		if cp != nil {
//			c.next, _ = strconv.Atoi(string(cp))
//		}
//		return nil
//	}
//
//	func (c *counter) Poll(context.Context) ([]source.Record, error) {
//		n := c.next
//		c.next++
//		return []source.Record{{
//			Payload:  fmt.Appendf(nil, "tick %d", n),
//			Position: source.Checkpoint(strconv.Itoa(n + 1)),
//		}}, nil
//	}
//
//	func (c *counter) Commit(ctx context.Context, cp source.Checkpoint) error { return save(ctx, cp) }
//	func (c *counter) Close(context.Context) error                          { return nil }
//	func (c *counter) Health(context.Context) error                         { return nil }
//
//	rt, err := source.New(client, &counter{}, source.Options{Topic: "/default/ticks"})
//	err = rt.Run(ctx)
//
// A process reads its settings with LoadConfig (environment variables such
// as DANUBE_SERVICE_URL, DANUBE_TOPIC, BATCH_SIZE, POLL_INTERVAL_MS and
// CHECKPOINT_INTERVAL_MS, or a YAML file with the same keys in snake
// case). The package jsonl is a complete connector, with a command that
// shows the wiring of a process: signals, metrics, supervision.
package source
