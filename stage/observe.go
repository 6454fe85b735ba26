package stage

import "time"

// Observer receives measurements of a pipeline as it runs, for metrics and
// traces, without this package depending on a metrics library. Every field
// is optional, and a nil field costs nothing: the stages call the functions
// once per chunk or batch, never once per message.
//
// The functions are called from the stages' goroutines, concurrently, and
// must return quickly. The stage argument is the name given to From, Then,
// Batch or Write, or AckStageName; names are fixed for the life of the
// pipeline, so they suit metric attributes. Stage "" stands for the
// pipeline itself, settling what was left after a forced drain or a
// supervisor that gave up, and for settlements made by user code through
// Msg methods.
type Observer struct {
	// Received is called when a stage takes n messages from its input:
	// from its channel, or for the entry, from its source.
	Received func(stage string, n int)

	// Sent is called when a stage passes n messages to the next stage.
	Sent func(stage string, n int)

	// Settled is called when a stage has settled messages, with the count
	// of each outcome. Messages count as they entered the pipeline: one
	// split by FlatMap counts once, when its last part is settled.
	Settled func(stage string, acked, nacked, deadLettered int)

	// Wrote is called after each write attempt with the batch's size in
	// messages and bytes, the time Write took on the pipeline's clock, and
	// the error it returned.
	Wrote func(stage string, messages, bytes int, elapsed time.Duration, err error)
}

// active returns o, or nil when o has no function set, so that stages test
// a single pointer.
func (o Observer) active() *Observer {
	if o.Received == nil && o.Sent == nil && o.Settled == nil && o.Wrote == nil {
		return nil
	}
	return &o
}

// Queue is the fill of the channel between two stages.
type Queue struct {
	// From and To are the names of the stages the channel joins.
	From, To string
	// Len and Cap are the chunks waiting in the channel and its capacity.
	// A chunk holds up to Options.ChunkSize messages, or on the channel
	// out of a batch stage, one batch.
	Len, Cap int
}

// Queues returns the fill of every channel of the pipeline, in pipeline
// order, for gauges. WARNING: the values move while the pipeline runs.
func (p *Pipeline) Queues() []Queue {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Queue, 0, len(p.links))
	for _, l := range p.links {
		n, c := l.depth()
		out = append(out, Queue{From: l.from, To: l.to, Len: n, Cap: c})
	}
	return out
}

func (b *stageBase) received(n int) {
	if b.obs != nil && b.obs.Received != nil {
		b.obs.Received(b.name, n)
	}
}

func (b *stageBase) sent(n int) {
	if b.obs != nil && b.obs.Sent != nil {
		b.obs.Sent(b.name, n)
	}
}
