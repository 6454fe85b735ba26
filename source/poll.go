package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// pollInput is the pipeline's source in poll mode: it calls Poll, hands
// out the records it returned, and polls again at once while Poll returns
// records, or after the poll interval when it returned none. Once the
// drain has begun it polls no more, hands out what it holds, and ends.
type pollInput struct {
	run  *run
	conn Poller

	// Used by the entry stage's goroutine only.
	wait     time.Duration // to wait before the next Poll
	failures int           // Poll failures in a row

	// mu guards what abandon reads: a Poll that ignores its context may
	// return after the pipeline has left its stage behind.
	mu      sync.Mutex
	backlog []Record // returned by Poll, not yet handed out
	ended   bool     // Poll returned io.EOF, the run failed, or abandon was called
}

// Receive implements stage.Source.
func (in *pollInput) Receive(ctx context.Context, buf []stage.Msg[*item]) (int, error) {
	for {
		in.mu.Lock()
		if n := min(len(buf), len(in.backlog)); n > 0 {
			for i := range n {
				buf[i] = in.run.newMsg(in.backlog[i])
			}
			// The slice is the connector's: reslice it, never write to it.
			in.backlog = in.backlog[n:]
			in.mu.Unlock()
			return n, nil
		}
		ended := in.ended
		in.mu.Unlock()
		if ended || in.run.draining() {
			return 0, io.EOF
		}

		recs, eof, err := in.poll(ctx)
		in.mu.Lock()
		if !in.ended {
			in.backlog, in.ended = recs, eof
		}
		in.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

// poll waits out the poll interval or the backoff due, then calls Poll
// once, and stops the run after a failure too many. It returns the records
// Poll returned, with or without an error, and whether the input ended.
// It returns an error only when ctx is done. The beginning of the drain
// cuts the wait and the Poll short.
func (in *pollInput) poll(ctx context.Context) (recs []Record, eof bool, err error) {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(in.run.ictx, func() { cancel(context.Cause(in.run.ictx)) })()

	if in.wait > 0 {
		if err := sleep(pctx, in.run.opts.Clock, in.wait); err != nil {
			return nil, false, ctx.Err()
		}
		in.wait = 0
	}
	recs, err = in.conn.Poll(pctx)
	switch {
	case err == nil:
		if in.failures > 0 {
			in.run.log.Info("poll recovered", slog.Int("failures", in.failures))
		}
		in.failures = 0
		if len(recs) == 0 {
			in.wait = in.run.opts.PollInterval
		}
		return recs, false, nil
	case errors.Is(err, io.EOF):
		return recs, true, nil
	case ctx.Err() != nil:
		return recs, false, ctx.Err()
	case pctx.Err() != nil:
		// The drain has begun: Poll was cut short, not failed.
		return recs, false, nil
	}

	in.failures++
	if errors.Is(err, ErrFatal) || in.failures > in.run.opts.MaxRetries {
		in.run.fail(fmt.Errorf("poll failed %d times in a row: %w", in.failures, err))
		return recs, true, nil
	}
	in.wait = backoffWait(in.run.opts.RetryBackoff, in.failures)
	if in.failures == 1 {
		in.run.log.Warn("poll failed; retrying", slog.Any("error", err), slog.Duration("wait", in.wait))
	}
	return recs, false, nil
}

// abandon implements input.
func (in *pollInput) abandon() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := len(in.backlog)
	in.backlog, in.ended = nil, true
	return n
}
