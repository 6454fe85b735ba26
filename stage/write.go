package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Writer writes batches to the target system. The write stage calls Write
// from its own goroutine, one batch at a time, in order. A batch holds its
// messages in the order they entered the pipeline. The pipeline reuses the
// slice, so the writer must not keep it, or change it, after Write returns.
//
// Write returns nil when every message was written: they are all acked. It
// returns a *BatchError when some were written and others not, listing the
// others. Any other error concerns the whole batch:
//
//   - Permanent dead-letters every message;
//   - Redeliver nacks every message;
//   - Fatal fails the stage, so that its supervisor restarts it and the
//     restarted stage writes the batch again;
//   - a plain error retries the batch under the stage's RetryPolicy.
//
// A message is acked only after Write reported it written.
//
// Write must return once ctx is done. A Write that panics has its batch
// nacked, and the stage fails.
type Writer[T any] interface {
	Write(ctx context.Context, batch []Msg[T]) error
}

// WriterFunc adapts a function to the Writer interface.
type WriterFunc[T any] func(ctx context.Context, batch []Msg[T]) error

// Write calls f(ctx, batch).
func (f WriterFunc[T]) Write(ctx context.Context, batch []Msg[T]) error { return f(ctx, batch) }

// Opener is implemented by a Writer that must connect before it writes.
// The write stage calls Open at the start of each of its runs, before its
// first write: when the pipeline starts and after every restart, so that a
// writer that failed with a Fatal error reconnects. An error from Open fails
// the stage, and its supervisor restarts it after its backoff delay.
type Opener interface {
	Open(ctx context.Context) error
}

// WriteOptions configures the write stage.
type WriteOptions struct {
	// Retry sets how failed writes are retried.
	Retry RetryPolicy
}

// writeStage writes batches with retries and hands the outcome of every
// message to the ack stage.
type writeStage[T any] struct {
	stageBase
	in    *edge[T]
	out   *edge[T]
	w     Writer[T]
	retry RetryPolicy
	clk   clock.Clock

	// State kept across runs. cur is the batch being written, published
	// under mu, reduced to the messages not yet settled. results holds
	// settled outcomes not yet handed to the ack stage.
	cur      *chunk[T]
	attempts int
	lastErr  error
	resumed  bool // no attempt made yet in this run
	results  *chunk[T]
	closed   bool

	// bo is the backoff of the current batch's retries, made once and
	// reused for every batch, so that a batch costs no allocation for
	// it. boStale marks it for a Reset before the next use.
	bo      backoff.BackOff
	boStale bool
}

func (s *writeStage[T]) Run(ctx context.Context) error { return runStage(ctx, s) }

func (s *writeStage[T]) loop(ctx context.Context) error {
	if o, ok := s.w.(Opener); ok && !s.closed {
		s.setStatus(statusBusy)
		if err := o.Open(ctx); err != nil {
			return fmt.Errorf("stage %s: open writer: %w", s.name, err)
		}
	}
	// A new run starts a new backoff sequence, and retries a batch left by
	// a failed run at once: its supervisor has waited before restarting it.
	s.boStale, s.resumed = true, true

	for {
		if s.results != nil {
			if err := s.sendResults(ctx); err != nil {
				return err
			}
		}
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
			s.cur = c
			s.mu.Unlock()
			s.attempts, s.boStale, s.lastErr = 0, true, nil
		}
		if err := s.write(ctx); err != nil {
			return err
		}
	}
}

// write writes the current batch until every message in it is settled,
// or the stage stops or fails.
func (s *writeStage[T]) write(ctx context.Context) error {
	for {
		if s.bo == nil {
			s.bo = s.retry.newBackOff(s.clk)
		} else if s.boStale {
			s.bo.Reset()
		}
		s.boStale = false
		if s.attempts > 0 && !s.resumed {
			wait := s.bo.NextBackOff()
			if wait == backoff.Stop {
				s.giveUp("")
				return nil
			}
			s.setStatus(statusBusy)
			retry, err := s.backoffWait(ctx, wait)
			if err != nil {
				return err
			}
			if !retry {
				s.giveUp("; the pipeline is draining and the next attempt would come after its graceful phase")
				return nil
			}
		}

		if s.attempts > 0 && s.obs != nil && s.obs.Retrying != nil {
			s.obs.Retrying(s.name, len(s.cur.msgs), s.attempts+1)
		}
		s.attempts++
		s.resumed = false
		s.setStatus(statusBusy)
		panicked, err := s.attempt(ctx)
		if panicked != nil {
			s.settleCur(nackVerdict(s.p.opts.NackDelay, fmt.Sprintf("stage %s panicked: %v", s.name, panicked)))
			return panicError(s.name, panicked)
		}
		if err == nil {
			s.settleCur(ackVerdict)
			return nil
		}

		// Apply what the writer reported even when the stage is stopping:
		// messages it wrote must be acked, not nacked and written again.
		s.lastErr = err
		class, delay := classify(err)
		var be *BatchError
		switch {
		case class == classFatal && ctx.Err() == nil:
			return fmt.Errorf("stage %s: write batch of %d: %w", s.name, len(s.cur.msgs), err)
		case errors.As(err, &be) && s.applyPartial(be):
		case class == classPermanent:
			s.settleCur(deadLetterVerdict(err.Error()))
		case class == classRedeliver:
			s.settleCur(nackVerdict(delay, err.Error()))
		}

		if s.results != nil {
			if err := s.sendResults(ctx); err != nil {
				return err
			}
		}
		if s.cur == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx) // stopped: keep the rest of the batch
		}
		if s.retry.exhausted(s.attempts) {
			s.giveUp("")
			return nil
		}
	}
}

// attempt calls Write once, with the attempt's context (see
// attemptContext), and recovers a panic.
func (s *writeStage[T]) attempt(ctx context.Context) (panicked any, err error) {
	actx, release := attemptContext(ctx, s.clk, s.retry.AttemptTimeout)
	defer release()
	batch := s.cur.msgs
	var start time.Time
	if s.obs != nil && s.obs.Wrote != nil {
		start = s.clk.Now()
		defer func() {
			s.obs.Wrote(s.name, len(batch), batchBytes(batch), s.clk.Since(start), err)
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			panicked = r
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	err = s.w.Write(actx, batch)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), ErrAttemptTimeout) {
		// The writer returned its context's plain error. Report that the
		// attempt timed out, and keep the writer's error for the reason.
		err = fmt.Errorf("%w: %w", ErrAttemptTimeout, err)
	}
	return nil, err
}

// giveUp nacks the messages still failing after the last attempt, with
// why there is no other appended to the reason.
func (s *writeStage[T]) giveUp(why string) {
	reason := fmt.Sprintf("write failed after %d attempts: %v%s", s.attempts, s.lastErr, why)
	s.settleCur(nackVerdict(s.p.opts.NackDelay, reason))
}

// backoffWait waits d on the stage's clock before a retry, and reports
// whether to retry. It reports false, at once or when the drain begins, if
// the pipeline is draining and the wait ends no earlier than the graceful
// phase. Such a retry would come in the forced phase, when the stage is
// cancelled, so waiting for it would only hold the drain up. It returns
// ctx's cause when ctx is done first.
func (s *writeStage[T]) backoffWait(ctx context.Context, d time.Duration) (bool, error) {
	wake := s.clk.Now().Add(d)
	if s.p.drainForcedBy(wake) {
		return false, nil
	}
	if d <= 0 {
		return true, nil
	}

	t := s.clk.NewTimer(d)
	defer t.Stop()
	stop := s.p.stopCtx.Done()
	for {
		select {
		case <-t.C():
			return true, nil
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-stop:
			stop = nil
			if s.p.drainForcedBy(wake) {
				return false, nil
			}
		}
	}
}

// settleCur settles every message left in the batch with v; the outcome
// goes to the ack stage with the next send.
func (s *writeStage[T]) settleCur(v verdict) {
	c := s.cur
	if v.kind != verdictAck {
		c.verdicts = make([]verdict, len(c.msgs))
		for i := range c.verdicts {
			c.verdicts[i] = v
		}
	}
	s.mu.Lock()
	s.cur, s.results = nil, c
	s.mu.Unlock()
}

// applyPartial settles the messages of a partly written batch: the written
// ones are acked, the failures are dead-lettered or nacked by their error,
// and the rest stay in the batch for the next attempt. It returns false,
// changing nothing, when be lists an index out of range or twice.
func (s *writeStage[T]) applyPartial(be *BatchError) bool {
	msgs := s.cur.msgs
	const (
		written = iota
		settled
		again
	)
	fate := make([]uint8, len(msgs))
	verdicts := make([]verdict, len(msgs))
	for _, f := range be.Failed {
		if f.Index < 0 || f.Index >= len(msgs) || fate[f.Index] != written {
			return false
		}
		class, delay := classify(f.Err)
		switch class {
		case classPermanent:
			fate[f.Index], verdicts[f.Index] = settled, deadLetterVerdict(errText(f.Err))
		case classRedeliver:
			fate[f.Index], verdicts[f.Index] = settled, nackVerdict(delay, errText(f.Err))
		default:
			fate[f.Index] = again
		}
	}

	res := &chunk[T]{}
	kept := 0
	s.mu.Lock()
	for i, m := range msgs {
		if fate[i] == again {
			msgs[kept] = m
			kept++
			continue
		}
		res.msgs = append(res.msgs, m)
		res.verdicts = append(res.verdicts, verdicts[i])
	}
	clear(msgs[kept:])
	s.cur.msgs = msgs[:kept]
	if kept == 0 {
		s.cur.recycle()
		s.cur = nil
	}
	if len(res.msgs) > 0 {
		s.results = res
	}
	s.mu.Unlock()
	return true
}

// batchBytes returns the total size of the messages of batch.
func batchBytes[T any](batch []Msg[T]) int {
	n := 0
	for _, m := range batch {
		n += m.Size()
	}
	return n
}

func errText(err error) string {
	if err == nil {
		return "failed"
	}
	return err.Error()
}

// sendResults hands the settled outcomes to the ack stage. They are not
// published while the send waits: the ack stage owns them once the send is
// made, and may recycle the chunk before this goroutine could unpublish
// it, so the clean-up of a forced drain must not find them.
func (s *writeStage[T]) sendResults(ctx context.Context) error {
	s.setStatus(statusSending)
	s.mu.Lock()
	res := s.results
	s.results = nil
	s.mu.Unlock()

	select {
	case s.out.ch <- res:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		s.results = res
		s.mu.Unlock()
		return context.Cause(ctx)
	}
}

func (s *writeStage[T]) settleHeld(tl *tally, running bool) {
	v := s.p.leftover("the pipeline stopped before the message was written")
	if running {
		// Stuck in Open or Write, with the batch and the results published.
		// Results wait only while Open runs: they are handed on before each
		// attempt. Apply them, since the writer decided them, but leave
		// both chunks to the goroutine.
		if s.results != nil {
			applyVerdicts(s.results, 0, tl, true)
		}
		if s.cur != nil {
			nackAll(s.cur.msgs, v, tl)
		}
		return
	}
	if s.results != nil {
		applyVerdicts(s.results, 0, tl, true)
		s.results.recycle()
		s.results = nil
	}
	if s.cur != nil {
		nackAll(s.cur.msgs, v, tl)
		s.cur.recycle()
		s.cur = nil
	}
}

func (s *writeStage[T]) reset() {
	s.cur, s.results, s.closed = nil, nil, false
	s.attempts, s.boStale, s.lastErr = 0, true, nil
}
