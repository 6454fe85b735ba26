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

	// Retrying is called when a write stage is about to write messages
	// again after a failed attempt: once its backoff wait is over, just
	// before it calls Write, with the number of the attempt (2 for the
	// first retry). Messages is how many the batch still holds; those
	// written or settled by an earlier attempt are not written again. A
	// stage that gives up, nacking the messages, does not call it, and
	// neither does one whose drain was forced during the wait. The first
	// attempt of a restarted stage on the batch its predecessor failed on
	// is a retry too.
	Retrying func(stage string, messages, attempt int)

	// Failed is called when the function of a Map or FlatMap stage
	// returned an error or panicked. The stage calls it once per chunk and
	// kind of failure, with how many messages failed that way and the
	// first of their errors. The error is marked as the stage treated the
	// messages. Permanent means it dead-lettered them, as it does for an
	// unmarked error (see Stage). Redeliver means it nacked them with a
	// delay, and Fatal that the stage failed and keeps the message for its
	// restart. A panic comes as an error wrapping a *supervisor.PanicError,
	// for one message, which the stage nacked before it failed. IsPermanent,
	// IsRedeliver and IsFatal tell the kinds apart. An error returned after
	// the stage was stopped is no failure: the message is kept for the
	// restart or the clean-up, and not reported.
	Failed func(stage string, messages int, err error)
}

// active returns o, or nil when o has no function set, so that stages test
// a single pointer.
func (o Observer) active() *Observer {
	if o.Received == nil && o.Sent == nil && o.Settled == nil && o.Wrote == nil &&
		o.Retrying == nil && o.Failed == nil {
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

// failures counts the messages a transform function failed on, by how the
// stage settled them, with the first error of each kind.
type failures struct {
	deadLettered, nacked       int
	firstDeadLetter, firstNack error
}

// add records a failure, err, that the stage settled as kind.
func (f *failures) add(kind verdictKind, err error) {
	switch kind {
	case verdictDeadLetter:
		if f.deadLettered == 0 {
			if !IsPermanent(err) {
				err = Permanent(err)
			}
			f.firstDeadLetter = err
		}
		f.deadLettered++
	case verdictNack:
		if f.nacked == 0 {
			f.firstNack = err
		}
		f.nacked++
	}
}

// noteFailed records a failure for the observer, if it has Failed set.
func (s *transformStage[In, Out]) noteFailed(kind verdictKind, err error) {
	if s.obs != nil && s.obs.Failed != nil {
		s.failed.add(kind, err)
	}
}

// reportFailed calls the observer's Failed, if set, with the failures
// gathered, and clears them.
func (s *transformStage[In, Out]) reportFailed() {
	if s.obs == nil || s.obs.Failed == nil {
		return
	}
	f := &s.failed
	if f.deadLettered > 0 {
		s.obs.Failed(s.name, f.deadLettered, f.firstDeadLetter)
	}
	if f.nacked > 0 {
		s.obs.Failed(s.name, f.nacked, f.firstNack)
	}
	*f = failures{}
}

// reportFatal reports one message whose function failed the stage, after
// the failures gathered before it.
func (s *transformStage[In, Out]) reportFatal(err error) {
	if s.obs == nil || s.obs.Failed == nil {
		return
	}
	s.reportFailed()
	s.obs.Failed(s.name, 1, err)
}
