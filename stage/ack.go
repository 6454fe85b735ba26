package stage

import (
	"context"
	"fmt"
)

// The ack stage is the last stage of every pipeline. The write stage hands
// it each batch once the outcome of every message is known, and goes on to
// the next batch at once. The ack stage then settles the messages, calling
// their Settlers, and releases them from the in-flight limits. A broker
// acknowledgement that takes time therefore delays the next acks, never the
// next write, while the in-flight limits still bound how far writes may run
// ahead of acks. The channel between the two holds
// Options.ChannelCapacity batches.

// ackStage settles the messages whose outcome the write stage decided.
type ackStage[T any] struct {
	stageBase
	in *edge[T]
	tl tally

	// State kept across runs: the chunk being settled, published under mu,
	// and the position of the next message in it.
	cur    *chunk[T]
	pos    int
	closed bool
}

func (s *ackStage[T]) Run(ctx context.Context) error { return runStage(ctx, s) }

func (s *ackStage[T]) loop(ctx context.Context) error {
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
				s.closed = true
				s.p.markFinished()
				continue
			}
			s.received(len(c.msgs))
			s.mu.Lock()
			s.cur, s.pos = c, 0
			s.mu.Unlock()
		}
		if err := s.apply(); err != nil {
			return err
		}
	}
}

// apply settles the rest of the current chunk.
func (s *ackStage[T]) apply() (err error) {
	defer func() {
		if r := recover(); r != nil {
			// A Settler panicked; its message was marked settled before
			// the call, so the next run goes on with the next message.
			s.pos++
			s.tl.flush()
			err = panicError(s.name, fmt.Errorf("settler: %v", r))
		}
	}()

	s.setStatus(statusBusy)
	c := s.cur
	for s.pos < len(c.msgs) {
		t := c.msgs[s.pos].t
		if t != nil {
			v := ackVerdict
			if c.verdicts != nil {
				v = c.verdicts[s.pos]
			}
			t.settle(v, &s.tl)
		}
		s.pos++
	}
	s.tl.flush()

	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	c.recycle()
	return nil
}

func (s *ackStage[T]) settleHeld(tl *tally, running bool) {
	if s.cur == nil {
		return
	}
	if running {
		// Stuck in a Settler: settle the rest of the published chunk; the
		// messages settled already are skipped.
		applyVerdicts(s.cur, 0, tl, true)
		return
	}
	applyVerdicts(s.cur, s.pos, tl, true)
	s.cur.recycle()
	s.cur = nil
}

func (s *ackStage[T]) reset() {
	s.cur, s.pos, s.closed = nil, 0, false
	s.tl = newTally(s.p.flow, s.name)
}

// applyVerdicts settles the messages of c from index from on with their
// verdicts, and returns how many it settled. With cleanup, messages settled
// already are skipped without counting them as duplicates.
func applyVerdicts[T any](c *chunk[T], from int, tl *tally, cleanup bool) int {
	n := 0
	for i := from; i < len(c.msgs); i++ {
		t := c.msgs[i].t
		if t == nil {
			continue
		}
		v := ackVerdict
		if c.verdicts != nil {
			v = c.verdicts[i]
		}
		var ok bool
		if cleanup {
			ok = t.settleIfPending(v, tl)
		} else {
			ok = t.settle(v, tl)
		}
		if ok {
			n++
		}
	}
	return n
}
