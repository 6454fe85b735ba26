package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Source produces the messages that enter a pipeline; the pipeline's entry
// stage calls Receive in a loop, from one goroutine at a time.
//
// Receive blocks until at least one message is available, then fills buf
// with the messages available without further waiting, at most len(buf),
// and returns how many it wrote. This is the contract of io.Reader, and it
// is what lets a pipeline carry many messages per channel send when the
// source is busy and flush a partial batch at once when it is not.
//
// Receive returns io.EOF, with or without messages, when the source is
// exhausted: the pipeline then drains and Run returns. It returns ctx's
// error when ctx is done, which happens when the drain begins. Any other
// error is a failure of the entry stage: messages returned with it are
// kept, and the supervisor restarts the stage, which calls Receive again.
// Messages returned after the drain began are still processed.
//
// The pipeline settles every message the source hands over exactly once,
// through the Settler given to NewMsg or Attach, with the exception that
// the package documentation names.
type Source[T any] interface {
	Receive(ctx context.Context, buf []Msg[T]) (int, error)
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc[T any] func(ctx context.Context, buf []Msg[T]) (int, error)

// Receive calls f(ctx, buf).
func (f SourceFunc[T]) Receive(ctx context.Context, buf []Msg[T]) (int, error) {
	return f(ctx, buf)
}

// entryStage calls the source, admits its messages under the in-flight
// limits and sends them on in chunks.
type entryStage[T any] struct {
	stageBase
	src Source[T]
	out *edge[T]

	// State kept across runs. pending is admitted and waits to be sent;
	// rest was received and waits to be admitted.
	pending  *chunk[T]
	rest     *chunk[T]
	prepared bool // rest's messages have trackers and none is settled
	ended    bool // the source is exhausted or the drain has begun
	closed   bool // out is closed
	lastIdle bool // the last chunk sent carried the idle flag
}

func (s *entryStage[T]) Run(ctx context.Context) error { return runStage(ctx, s) }

func (s *entryStage[T]) loop(ctx context.Context) error {
	stop := s.p.stopCtx.Done()
	receiveCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(s.p.stopCtx, func() { cancel(errStopped) })()

	for {
		if s.pending != nil {
			if err := s.send(ctx); err != nil {
				return err
			}
		}
		if s.closed {
			s.setStatus(statusDone)
			return nil
		}

		if s.rest != nil {
			if err := s.admit(ctx, stop); err != nil {
				return err
			}
			continue
		}

		if !s.ended && isDone(stop) {
			s.ended = true
		}
		if s.ended {
			close(s.out.ch)
			s.closed = true
			continue
		}

		s.setStatus(statusWaiting)
		flow := s.p.flow
		err := flow.waitUntil(ctx, stop, func() bool { return flow.room() > 0 })
		if errors.Is(err, errStopped) {
			s.ended = true
			continue
		}
		if err != nil {
			return err
		}

		if err := s.receive(ctx, receiveCtx); err != nil {
			return err
		}
	}
}

// receive calls the source once and keeps what it returned as rest.
func (s *entryStage[T]) receive(ctx, receiveCtx context.Context) error {
	want := int(min(s.p.flow.room(), int64(s.p.opts.ChunkSize)))
	c := s.out.pool.get()
	buf := c.msgs[:want]

	s.setStatus(statusBusy)
	n, err := s.src.Receive(receiveCtx, buf)
	if n < 0 || n > want {
		// Which messages the source meant to hand over is unknown: hand
		// back every one it put in the buffer.
		tl := newTally(s.p.flow, s.name)
		nackAll(buf, s.p.leftover("the source returned an invalid message count"), &tl)
		tl.flush()
		clear(buf)
		c.recycle()
		return fmt.Errorf("stage %s: source returned %d messages for a buffer of %d", s.name, n, want)
	}
	c.msgs = buf[:n]
	clear(buf[n:])
	if n > 0 {
		s.received(n)
	}
	c.idle = n < want
	if n > 0 {
		s.rest, s.prepared = c, false
	} else {
		c.recycle()
	}

	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		s.ended = true
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(context.Cause(receiveCtx), errStopped):
		s.ended = true
		return nil
	}
	return fmt.Errorf("stage %s: receive: %w", s.name, err)
}

// admit admits the messages of rest that fit under the byte limit and makes
// them the pending chunk, waiting for room when none fits.
func (s *entryStage[T]) admit(ctx context.Context, stop <-chan struct{}) error {
	c, flow := s.rest, s.p.flow
	if !s.prepared {
		prepare(c)
		s.prepared = true
	}

	// The common case: everything fits, and the chunk goes on as it is.
	inFlight := flow.bytes.Load()
	var fit int
	var bytes int64
	for _, m := range c.msgs {
		size := int64(m.t.size)
		if (inFlight > 0 || fit > 0) && inFlight+bytes+size > flow.maxBytes {
			break
		}
		bytes += size
		fit++
	}

	if fit == 0 && len(c.msgs) > 0 {
		// Nothing fits: tell the stages after that nothing more comes for
		// now, so that a partial batch is flushed and frees room.
		if err := s.sendIdleMarker(ctx); err != nil {
			return err
		}
		s.setStatus(statusWaiting)
		first := int64(c.msgs[0].t.size)
		err := flow.waitUntil(ctx, stop, func() bool { return flow.fits(first) })
		if errors.Is(err, errStopped) {
			// Received but never admitted: hand the messages back.
			tl := newTally(flow, s.name)
			nackAll(c.msgs, s.p.leftover("the pipeline began draining before the message was admitted"), &tl)
			tl.flush()
			s.rest = nil
			c.recycle()
			s.ended = true
			return nil
		}
		return err
	}

	for i := range c.msgs[:fit] {
		c.msgs[i].t.flow = flow
	}
	flow.admit(int64(fit), bytes)

	if fit == len(c.msgs) {
		c.idle = c.idle || flow.room() == 0
		s.pending, s.rest = c, nil
		return nil
	}

	// Part of the chunk fits: send that part, keep the rest.
	head := s.out.pool.get()
	head.msgs = append(head.msgs, c.msgs[:fit]...)
	head.idle = true
	rest := copy(c.msgs, c.msgs[fit:])
	clear(c.msgs[rest:])
	c.msgs = c.msgs[:rest]
	s.pending = head
	return nil
}

// prepare gives a tracker to each message of c that has none and removes
// the messages settled already, which need no processing.
func prepare[T any](c *chunk[T]) {
	kept := 0
	for _, m := range c.msgs {
		switch {
		case m.t == nil:
			m.t = &Tracker{}
		case m.t.state.Load() != trackerPending:
			continue
		}
		c.msgs[kept] = m
		kept++
	}
	clear(c.msgs[kept:])
	c.msgs = c.msgs[:kept]
}

// sendIdleMarker sends an empty chunk flagged idle, unless the last chunk
// sent carried the flag already.
func (s *entryStage[T]) sendIdleMarker(ctx context.Context) error {
	if s.lastIdle {
		return nil
	}
	marker := s.out.pool.get()
	marker.idle = true
	s.pending = marker
	return s.send(ctx)
}

// send sends the pending chunk.
func (s *entryStage[T]) send(ctx context.Context) error {
	s.setStatus(statusSending)
	// The chunk is the next stage's once sent.
	idle, n := s.pending.idle, len(s.pending.msgs)
	select {
	case s.out.ch <- s.pending:
		s.sent(n)
		s.lastIdle = idle
		s.pending = nil
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *entryStage[T]) settleHeld(tl *tally, running bool) {
	if running {
		// A stuck entry is stuck in Receive, before it holds anything.
		return
	}
	v := s.p.leftover("the pipeline stopped before the message was processed")
	if s.pending != nil {
		nackAll(s.pending.msgs, v, tl)
		s.pending.recycle()
		s.pending = nil
	}
	if s.rest != nil {
		nackAll(s.rest.msgs, v, tl)
		s.rest.recycle()
		s.rest = nil
	}
}

func (s *entryStage[T]) reset() {
	s.pending, s.rest = nil, nil
	s.prepared, s.ended, s.closed, s.lastIdle = false, false, false, false
}

// isDone reports whether ch is closed, without waiting.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
