package source

import (
	"context"
	"fmt"
	"io"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// streamInput is the pipeline's source in streaming mode: Stream runs on a
// goroutine of its own and emits records into a channel, which Receive
// empties.
type streamInput struct {
	run *run
	ch  chan Record

	done chan struct{} // closed when Stream has returned
	err  error         // the error Stream returned, read after done

	finished bool // Receive has returned io.EOF
}

func newStreamInput(rn *run, capacity int) *streamInput {
	return &streamInput{run: rn, ch: make(chan Record, capacity), done: make(chan struct{})}
}

// start runs Stream until ctx is done or the input is exhausted.
func (in *streamInput) start(ctx context.Context, conn Streamer) {
	emit := func(rec Record) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
		}
		select {
		case in.ch <- rec:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
		}
	}
	go func() {
		defer close(in.done)
		defer func() {
			if r := recover(); r != nil {
				in.err = in.run.panicError("Stream", r)
			}
		}()
		in.err = conn.Stream(ctx, emit)
	}()
}

// Receive implements stage.Source.
func (in *streamInput) Receive(ctx context.Context, buf []stage.Msg[*item]) (int, error) {
	if in.finished {
		return 0, io.EOF
	}

	var first Record
	select {
	case first = <-in.ch:
	case <-in.done:
		// Stream has returned; take what it emitted before it did.
		select {
		case first = <-in.ch:
		default:
			return in.end()
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}

	buf[0] = in.run.newMsg(first)
	n := 1
	for n < len(buf) {
		select {
		case rec := <-in.ch:
			buf[n] = in.run.newMsg(rec)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// end reports the end of the stream: io.EOF, after stopping the run if
// Stream failed while the run was not stopping anyway.
func (in *streamInput) end() (int, error) {
	in.finished = true
	if in.err != nil {
		in.run.fail(fmt.Errorf("stream: %w", in.err))
	}
	return 0, io.EOF
}
