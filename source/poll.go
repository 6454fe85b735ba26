package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// pollInput is the pipeline's source in poll mode: it calls Poll, hands
// out the records it returned, and polls again at once while Poll returns
// records, or after the poll interval when it returned none.
type pollInput struct {
	run  *run
	conn Poller

	backlog  []Record // returned by Poll, not yet handed out
	idle     bool     // the last Poll returned nothing: wait before the next
	eof      bool     // Poll returned io.EOF, or the run failed
	failures int      // Poll failures in a row
}

// Receive implements stage.Source.
func (in *pollInput) Receive(ctx context.Context, buf []stage.Msg[*item]) (int, error) {
	for len(in.backlog) == 0 {
		if in.eof {
			return 0, io.EOF
		}
		if in.idle {
			if err := sleep(ctx, in.run.opts.Clock, in.run.opts.PollInterval); err != nil {
				return 0, err
			}
		}
		if err := in.poll(ctx); err != nil {
			return 0, err
		}
	}

	n := min(len(buf), len(in.backlog))
	for i := range n {
		buf[i] = in.run.newMsg(in.backlog[i])
	}
	// The slice is the connector's: reslice it, never write to it.
	in.backlog = in.backlog[n:]
	return n, nil
}

// poll calls Poll once, and after a failure waits before the next call or
// stops the run. It returns an error only when ctx is done.
func (in *pollInput) poll(ctx context.Context) error {
	recs, err := in.conn.Poll(ctx)
	in.backlog = recs
	in.idle = len(recs) == 0
	switch {
	case err == nil:
		if in.failures > 0 {
			in.run.log.Info("poll recovered", slog.Int("failures", in.failures))
		}
		in.failures = 0
		return nil
	case errors.Is(err, io.EOF):
		in.eof = true
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}

	in.failures++
	if errors.Is(err, ErrFatal) || in.failures > in.run.opts.MaxRetries {
		in.run.fail(fmt.Errorf("poll failed %d times in a row: %w", in.failures, err))
		in.eof = true
		return nil
	}
	wait := backoffWait(in.run.opts.RetryBackoff, in.failures)
	if in.failures == 1 {
		in.run.log.Warn("poll failed; retrying", slog.Any("error", err), slog.Duration("wait", wait))
	}
	in.idle = false
	return sleep(ctx, in.run.opts.Clock, wait)
}
