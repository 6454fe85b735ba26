// Package stage builds connector pipelines: a source, typed stages that
// transform, filter and split messages, a batch stage, and a write stage,
// each running in its own goroutine under a supervisor, each joined to the
// next by a bounded channel. Every message carries its acknowledgement, and
// the pipeline settles each one exactly once: acked when it was written or
// filtered out, nacked when it should come again, dead-lettered when it
// never can be written. The one exception is a stage stuck in user code
// that ignores its context: what it holds is settled when it returns, if
// ever (see DrainError.Unsettled).
//
// # Composing a pipeline
//
// A pipeline is built with generic functions, because Go methods cannot
// take type parameters. From starts a Flow[T] at a Source, Then joins a
// Stage[In, Out] to a Flow[In] and returns a Flow[Out], Batch ends a flow
// in batches, and Write joins the Writer:
//
//	p := stage.New("orders", stage.Options{DrainTimeout: 30 * time.Second})
//	raw := stage.From(p, "consume", consumer)                   // Flow[[]byte]
//	orders := stage.Then(raw, "decode", stage.Map(decodeOrder)) // Flow[Order]
//	paid := stage.Then(orders, "paid", stage.Filter(isPaid))    // Flow[Order]
//	batches := stage.Batch(paid, "batch", stage.BatchOptions{MaxCount: 500})
//	stage.Write(batches, "write", ordersTable, stage.WriteOptions{})
//	err := p.Run(ctx)
//
// A stage whose input type does not match the flow is a compile error. A
// user stage is an ordinary function given to Map (one message to one),
// FlatMap (one to any number) or Filter (one to one or none); it receives
// values, and the pipeline settles the messages: a filtered message is
// acked, an error dead-letters or nacks it (see Stage).
//
// # Messages and settlement
//
// A source makes each message with NewMsg, giving it a Settler: the
// source's own handle on the broker message, with Ack, Nack and
// DeadLetter methods. The pipeline calls exactly one of them once, whatever
// copies of the message exist and whichever stages try to settle it; a
// second settlement is ignored and counted in Stats.Duplicates. A message
// that FlatMap split is settled when its last part is: acked if every part
// was acked, nacked if any part was nacked, and otherwise dead-lettered.
// Package stage knows nothing of the broker: the sink runtime implements
// Settler with the Danube consumer.
//
// # Backpressure and batching
//
// The entry admits a message only while fewer than Options.MaxInFlight
// messages, and Options.MaxInFlightBytes bytes, are admitted and not yet
// settled, and channels hold a few chunks each, so memory stays bounded
// however slow the writer is. The batch stage sends a batch when it is
// full, after BatchOptions.MaxWait, or as soon as the entry has nothing
// more to send: a broker that delivers only a few unacknowledged messages
// at a time never waits for a batch that cannot fill.
//
// # Writing and acknowledging
//
// The write stage calls the Writer with each batch, retries failures under
// a RetryPolicy on the pipeline's clock, each attempt with a fresh context
// when RetryPolicy.AttemptTimeout bounds it, and takes per-message outcomes
// from a *BatchError. It then hands the batch with its outcomes to the ack
// stage, the last stage of every pipeline, which calls the Settlers; a slow
// acknowledgement delays the next acks, never the next write. A message is
// acked only after the writer reported it written.
//
// # Supervision
//
// The pipeline is a rest-for-one supervisor (package supervisor) whose
// children are the stages, in order. A stage that fails, returning a Fatal
// error or panicking in user code, is restarted together with the stages
// after it: a failed writer restarts the writer and the ack stage, not the
// consumer. The channels belong to the pipeline and survive restarts, and
// so does what each stage holds: the restarted writer writes again the
// batch its predecessor failed on. Restarted stages may write a batch that
// was being written when they were stopped a second time; nothing is acked
// unwritten.
//
// # Drain
//
// When Run's context is done, the pipeline drains from its entry to its
// end: the entry stops taking messages, each stage finishes what it holds
// and closes its output, partial batches are written at once, and the ack
// stage settles the last outcomes; a batch whose next retry would come
// too late is nacked rather than waited for. If the drain takes longer
// than its share of Options.DrainTimeout, or Pipeline.Force is called, the
// drain is forced: the stages are cancelled, every message not written is
// nacked, wherever it was, and Run returns a *DrainError naming the stages
// that held the drain up.
//
// # Cost
//
// Stages pass chunks of up to Options.ChunkSize messages per channel send
// and recycle them, so the pipeline allocates nothing per message but the
// message's Tracker, 32 bytes, which a source can embed in its own
// per-message struct (see Attach). Each stage costs one goroutine. All
// time-based behaviour (batch timeouts, retry waits, drain deadlines) runs
// on Options.Clock, so tests drive it with a fake clock.
package stage
