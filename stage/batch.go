package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Defaults of BatchOptions, used for each field left at zero.
const (
	DefaultBatchMaxCount = 1000
	DefaultBatchMaxWait  = 100 * time.Millisecond
)

// BatchOptions sets when the batch stage ends a batch and sends it to the
// write stage. A batch is sent as soon as one of these holds:
//
//   - it has MaxCount messages;
//   - the next message would take it over MaxBytes;
//   - MaxWait has passed since its first message arrived;
//   - the input is idle: the entry has nothing more to send for now,
//     because its source had no more messages ready or the in-flight limits
//     stopped it, and no more input is queued;
//   - the input is closed, which is how a drain reaches the batch stage.
//
// The idle rule keeps a pipeline from starving behind a broker that
// delivers only a few unacknowledged messages at a time. Waiting for a full
// batch, or for MaxWait, would hold back messages that the broker needs
// acked before it delivers more. The entry learns that its source is idle
// when Receive returns fewer messages than the buffer holds, so a source
// that fills the buffer exactly and then blocks leaves its last batch
// waiting for MaxWait. The zero value of every field means the default
// documented on it.
type BatchOptions struct {
	// MaxCount is the most messages a batch holds, DefaultBatchMaxCount by
	// default.
	MaxCount int
	// MaxBytes is the most bytes a batch holds, by the sizes given to
	// NewMsg; a message larger than MaxBytes makes a batch of its own. The
	// default, 0, sets no limit.
	MaxBytes int
	// MaxWait is the longest a message waits in a partial batch,
	// DefaultBatchMaxWait by default.
	MaxWait time.Duration
}

func (o BatchOptions) withDefaults() (BatchOptions, error) {
	var errs []error
	if o.MaxCount < 0 {
		errs = append(errs, fmt.Errorf("MaxCount %d is negative", o.MaxCount))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBytes %d is negative", o.MaxBytes))
	}
	if o.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("MaxWait %v is negative", o.MaxWait))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.MaxCount == 0 {
		o.MaxCount = DefaultBatchMaxCount
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultBatchMaxWait
	}
	return o, nil
}

// batchStage gathers messages into batches, in order.
type batchStage[T any] struct {
	stageBase
	in   *edge[T]
	out  *edge[T]
	opts BatchOptions
	clk  clock.Clock

	timer   clock.Timer
	timerOn bool

	// State kept across runs: the input chunk being consumed, the batch
	// being filled, and a batch ended but not yet sent.
	cur         *chunk[T]
	pos         int
	batch       *chunk[T]
	bytes       int
	full        *chunk[T]
	inputClosed bool
	closed      bool
}

func (s *batchStage[T]) Run(ctx context.Context) error { return runStage(ctx, s) }

func (s *batchStage[T]) loop(ctx context.Context) error {
	for {
		if s.full != nil {
			if err := s.sendFull(ctx); err != nil {
				return err
			}
		}
		if s.cur != nil {
			if err := s.consume(ctx); err != nil {
				return err
			}
			continue
		}
		if s.closed {
			s.setStatus(statusDone)
			return nil
		}
		if s.inputClosed {
			if s.batch != nil {
				s.seal()
				continue
			}
			close(s.out.ch)
			s.closed = true
			continue
		}

		s.setStatus(statusWaiting)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var expired <-chan time.Time
		if s.timerOn {
			expired = s.timer.C()
		}
		select {
		case c, ok := <-s.in.ch:
			if !ok {
				s.inputClosed = true
				continue
			}
			s.received(len(c.msgs))
			s.cur, s.pos = c, 0
		case <-expired:
			s.timerOn = false
			s.seal()
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// consume adds the rest of the current chunk to batches, sending each batch
// that is complete.
func (s *batchStage[T]) consume(ctx context.Context) error {
	s.setStatus(statusBusy)
	msgs := s.cur.msgs
	for s.pos < len(msgs) {
		m := msgs[s.pos]
		size := m.Size()
		if s.batch != nil && s.opts.MaxBytes > 0 && s.bytes+size > s.opts.MaxBytes {
			s.seal()
			if err := s.sendFull(ctx); err != nil {
				return err
			}
		}

		if s.batch == nil {
			s.batch = s.out.pool.get()
		}
		s.batch.msgs = append(s.batch.msgs, m)
		s.bytes += size
		s.pos++

		if len(s.batch.msgs) >= s.opts.MaxCount {
			s.seal()
			if err := s.sendFull(ctx); err != nil {
				return err
			}
			continue
		}
		// The wait starts with the batch's first message; a batch that was
		// full at once never needed it.
		if !s.timerOn {
			s.startTimer()
		}
	}

	idle := s.cur.idle
	s.cur.recycle()
	s.cur = nil
	if idle && s.batch != nil && len(s.in.ch) == 0 {
		s.seal()
	}
	return nil
}

func (s *batchStage[T]) startTimer() {
	if s.timer == nil {
		s.timer = s.clk.NewTimer(s.opts.MaxWait)
	} else {
		s.timer.Reset(s.opts.MaxWait)
	}
	s.timerOn = true
}

// seal ends the batch being filled; the loop sends it next.
func (s *batchStage[T]) seal() {
	if s.timerOn {
		s.timer.Stop()
		s.timerOn = false
	}
	s.full, s.batch, s.bytes = s.batch, nil, 0
}

func (s *batchStage[T]) sendFull(ctx context.Context) error {
	n := len(s.full.msgs)
	s.setStatus(statusSending)
	select {
	case s.out.ch <- s.full:
		s.sent(n)
		s.full = nil
		s.setStatus(statusBusy)
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *batchStage[T]) settleHeld(tl *tally, running bool) {
	if running {
		// The batch stage runs no user code, so it cannot be stuck; its
		// run settles what it holds when it returns.
		return
	}
	v := s.p.leftover("the pipeline stopped before the message was written")
	if s.cur != nil {
		nackAll(s.cur.msgs[s.pos:], v, tl)
		s.cur.recycle()
		s.cur = nil
	}
	for _, c := range []*chunk[T]{s.batch, s.full} {
		if c != nil {
			nackAll(c.msgs, v, tl)
			c.recycle()
		}
	}
	s.batch, s.full, s.bytes = nil, nil, 0
	if s.timerOn {
		s.timer.Stop()
		s.timerOn = false
	}
}

func (s *batchStage[T]) reset() {
	s.cur, s.pos, s.batch, s.bytes, s.full = nil, 0, nil, 0, nil
	s.inputClosed, s.closed = false, false
	if s.timerOn {
		s.timer.Stop()
		s.timerOn = false
	}
}
