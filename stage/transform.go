package stage

import (
	"context"
	"errors"
	"fmt"
)

// Stage is a step that turns messages of type In into messages of type Out,
// one message at a time: one to one (Map), one to any number (FlatMap), or
// one to one or none (Filter). Then joins a Stage to a flow; the types must
// match, so a mismatch is a compile error. The zero value is invalid.
//
// The function of a stage runs in the stage's own goroutine, one message
// after another and in order, so it needs no locking of its own. It gets
// the stage's context, which is cancelled only when the pipeline forces its
// drain or its supervisor stops the stage.
//
// An error from the function settles the message and the stage goes on.
// Redeliver nacks it with its delay. Any other error dead-letters it,
// because a function that failed on a message fails on it again. The
// reason of the nack or dead letter is "stage <name>: " and the error's
// text, with the name given to Then. Fatal fails the stage instead: its supervisor
// restarts it, and the stages after it, and the restarted stage calls the
// function on the same message again. A panic nacks the message, then fails
// the stage in the same way; the restarted stage goes on with the next
// message.
type Stage[In, Out any] struct {
	kind string
	step func(ctx context.Context, m Msg[In], e *emitter[Out]) error
	err  error
}

// Map returns a stage that replaces each message's value by fn's result.
// The message keeps its acknowledgement.
func Map[In, Out any](fn func(ctx context.Context, v In) (Out, error)) Stage[In, Out] {
	if fn == nil {
		return Stage[In, Out]{kind: "Map", err: errors.New("Map: nil function")}
	}
	return Stage[In, Out]{kind: "Map", step: func(ctx context.Context, m Msg[In], e *emitter[Out]) error {
		v, err := fn(ctx, m.Value)
		if err != nil {
			return err
		}
		e.add(Msg[Out]{Value: v, t: m.t})
		return nil
	}}
}

// FlatMap returns a stage that replaces each message by one message for
// each value fn returns, in order. No value acks the message, as a filter
// would; one value keeps its acknowledgement; several split it into parts.
//
// A message split into parts is settled once every part is. It is acked if
// every part was acked. Otherwise it is nacked if any part was nacked, with
// the longest delay among them, and else dead-lettered, with the reason of
// the first part dead-lettered. Cost: one split allocates the parts' trackers
// and a small shared record, two allocations whatever the number of parts.
func FlatMap[In, Out any](fn func(ctx context.Context, v In) ([]Out, error)) Stage[In, Out] {
	if fn == nil {
		return Stage[In, Out]{kind: "FlatMap", err: errors.New("FlatMap: nil function")}
	}
	return Stage[In, Out]{kind: "FlatMap", step: func(ctx context.Context, m Msg[In], e *emitter[Out]) error {
		vs, err := fn(ctx, m.Value)
		if err != nil {
			return err
		}
		switch {
		case len(vs) == 0:
			e.ack(m.t)
		case len(vs) == 1 || m.t == nil:
			for _, v := range vs {
				e.add(Msg[Out]{Value: v, t: m.t})
			}
		default:
			parts := m.t.split(len(vs))
			for i, v := range vs {
				e.add(Msg[Out]{Value: v, t: &parts[i]})
			}
		}
		return nil
	}}
}

// Filter returns a stage that passes on the messages for which keep returns
// true and acks the others: a message filtered out was processed, it just
// had nothing to write.
func Filter[T any](keep func(v T) bool) Stage[T, T] {
	if keep == nil {
		return Stage[T, T]{kind: "Filter", err: errors.New("Filter: nil function")}
	}
	return Stage[T, T]{kind: "Filter", step: func(_ context.Context, m Msg[T], e *emitter[T]) error {
		if keep(m.Value) {
			e.add(m)
		} else {
			e.ack(m.t)
		}
		return nil
	}}
}

// emitter collects what a stage's step produces into the output chunk.
type emitter[T any] struct {
	out  *chunk[T]
	pool *chunkPool[T]
	tl   *tally
}

func (e *emitter[T]) add(m Msg[T]) {
	if e.out == nil {
		e.out = e.pool.get()
	}
	e.out.msgs = append(e.out.msgs, m)
}

func (e *emitter[T]) ack(t *Tracker) {
	if t != nil {
		t.settle(ackVerdict, e.tl)
	}
}

// transformStage runs a Stage: it takes chunks from its input, calls the
// step on each message, and sends the output on in chunks.
type transformStage[In, Out any] struct {
	stageBase
	in   *edge[In]
	out  *edge[Out]
	step func(ctx context.Context, m Msg[In], e *emitter[Out]) error
	tl   tally

	// State kept across runs: the input chunk being processed, published
	// under mu, and the position of the next message in it.
	cur    *chunk[In]
	pos    int
	emit   emitter[Out]
	closed bool

	// failed gathers the failures of the current chunk for the observer;
	// used only when Observer.Failed is set.
	failed failures
}

func (s *transformStage[In, Out]) Run(ctx context.Context) error { return runStage(ctx, s) }

func (s *transformStage[In, Out]) loop(ctx context.Context) error {
	for {
		if s.cur == nil {
			if s.closed {
				s.setStatus(statusDone)
				return nil
			}
			c, err := receiveChunk(ctx, &s.stageBase, s.in)
			if err != nil {
				return err
			}
			if c == nil {
				close(s.out.ch)
				s.closed = true
				continue
			}
			s.received(len(c.msgs))
			s.mu.Lock()
			s.cur, s.pos = c, 0
			s.mu.Unlock()
		}
		if err := s.process(ctx); err != nil {
			return err
		}
	}
}

// process runs the step over the rest of the current chunk and sends what
// it produced.
func (s *transformStage[In, Out]) process(ctx context.Context) error {
	if s.emit.out != nil && len(s.emit.out.msgs) >= s.p.opts.ChunkSize {
		if err := s.send(ctx, false); err != nil {
			return err
		}
	}

	s.setStatus(statusBusy)
	err := s.steps(ctx)
	s.tl.flush()
	s.reportFailed()
	if err != nil {
		return err
	}

	// Pass the idle flag on even when the chunk produced nothing, so that
	// the batch stage learns that the entry is waiting.
	idle := s.cur.idle
	if (s.emit.out != nil && len(s.emit.out.msgs) > 0) || idle {
		if err := s.send(ctx, idle); err != nil {
			return err
		}
	}

	s.mu.Lock()
	c := s.cur
	s.cur = nil
	s.mu.Unlock()
	c.recycle()
	return nil
}

func (s *transformStage[In, Out]) steps(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			m := s.cur.msgs[s.pos]
			if m.t != nil {
				m.t.settleIfPending(nackVerdict(s.p.opts.NackDelay, fmt.Sprintf("stage %s panicked: %v", s.name, r)), &s.tl)
			}
			s.pos++
			err = panicError(s.name, r)
			s.reportFatal(err)
		}
	}()

	msgs := s.cur.msgs
	for s.pos < len(msgs) {
		m := msgs[s.pos]
		if err := s.step(ctx, m, &s.emit); err != nil {
			if ctx.Err() != nil {
				// Stopped, not failed: keep the message for the next run
				// or for the pipeline's clean-up.
				return context.Cause(ctx)
			}
			class, delay := classify(err)
			switch class {
			case classFatal:
				s.reportFatal(err)
				return fmt.Errorf("stage %s: %w", s.name, err)
			case classRedeliver:
				m.t.settle(nackVerdict(delay, s.failureReason(err)), &s.tl)
				s.noteFailed(verdictNack, err)
			default:
				m.t.settle(deadLetterVerdict(s.failureReason(err)), &s.tl)
				s.noteFailed(verdictDeadLetter, err)
			}
		}
		s.pos++
		if s.emit.out != nil && len(s.emit.out.msgs) >= s.p.opts.ChunkSize {
			if err := s.send(ctx, false); err != nil {
				return err
			}
			s.setStatus(statusBusy)
		}
	}
	return nil
}

// failureReason returns the reason of a message the step failed on: the
// error's text after the stage's name, so that a dead letter or a nack
// names the stage that rejected it. It runs only on failure.
func (s *transformStage[In, Out]) failureReason(err error) string {
	return "stage " + s.name + ": " + err.Error()
}

// send sends the output chunk, flagged idle or not.
func (s *transformStage[In, Out]) send(ctx context.Context, idle bool) error {
	if s.emit.out == nil {
		s.emit.out = s.out.pool.get()
	}
	s.emit.out.idle = idle
	n := len(s.emit.out.msgs)
	s.setStatus(statusSending)
	select {
	case s.out.ch <- s.emit.out:
		s.sent(n)
		s.emit.out = nil
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *transformStage[In, Out]) settleHeld(tl *tally, running bool) {
	v := s.p.leftover("the pipeline stopped before the message was written")
	if running {
		// Stuck in the step: the output chunk is the goroutine's, but the
		// published input chunk covers it, since every output message
		// shares a tracker with, or is a part of, an input message.
		if s.cur != nil {
			nackAll(s.cur.msgs, v, tl)
		}
		return
	}
	if s.cur != nil {
		nackAll(s.cur.msgs[s.pos:], v, tl)
		s.cur.recycle()
		s.cur = nil
	}
	if s.emit.out != nil {
		nackAll(s.emit.out.msgs, v, tl)
		s.emit.out.recycle()
		s.emit.out = nil
	}
}

func (s *transformStage[In, Out]) reset() {
	s.cur, s.pos, s.emit.out, s.closed = nil, 0, nil, false
	s.failed = failures{}
	s.tl = newTally(s.p.flow, s.name)
}

// receiveChunk waits for the next chunk of in, and returns nil, nil when in
// is closed and empty. A stage that was stopped takes no more input, even
// when some is waiting.
func receiveChunk[T any](ctx context.Context, b *stageBase, in *edge[T]) (*chunk[T], error) {
	b.setStatus(statusWaiting)
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	select {
	case c, ok := <-in.ch:
		if !ok {
			return nil, nil
		}
		return c, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
