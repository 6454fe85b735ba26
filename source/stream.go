package source

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// streamInput is the pipeline's source in streaming mode: Stream runs on a
// goroutine of its own and emits records into a channel, which Receive
// empties. Once the drain has begun, emit takes nothing more, and Receive
// hands out what the channel holds and ends.
type streamInput struct {
	run *run
	ch  chan Record

	done chan struct{} // closed when Stream has returned
	err  error         // the error Stream returned, read after done

	// emitMu is held by emit while it hands a record over, so that once
	// closed is set no record enters the channel.
	emitMu sync.Mutex
	closed bool

	finished bool        // Receive has returned io.EOF
	reported atomic.Bool // the error Stream returned was passed to the run
}

func newStreamInput(rn *run, capacity int) *streamInput {
	return &streamInput{run: rn, ch: make(chan Record, capacity), done: make(chan struct{})}
}

// start runs Stream until ctx is done or the input is exhausted.
func (in *streamInput) start(ctx context.Context, conn Streamer) {
	emit := func(rec Record) error {
		in.emitMu.Lock()
		defer in.emitMu.Unlock()
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
		}
		if in.closed {
			return ErrStopped
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
		if !in.take(&first) {
			return in.end()
		}
	case <-in.run.ictx.Done():
		// The drain has begun, so take what emit took before it.
		if !in.take(&first) {
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

// take closes emit and takes the next record the channel holds, if any.
func (in *streamInput) take(rec *Record) bool {
	in.close()
	select {
	case *rec = <-in.ch:
		return true
	default:
		return false
	}
}

// close makes emit take no more records, once the call in progress, if
// any, has returned.
func (in *streamInput) close() {
	in.emitMu.Lock()
	in.closed = true
	in.emitMu.Unlock()
}

// end reports the end of the stream: io.EOF, after passing the run a
// failure of Stream if it has returned.
func (in *streamInput) end() (int, error) {
	in.finished = true
	in.report()
	return 0, io.EOF
}

// report passes the run the error of Stream, once Stream has returned: it
// stops the run, or after the drain began, Run reports it if it is a panic
// or Fatal. A Stream that returns an ordinary error once its context is
// done is stopping as asked.
func (in *streamInput) report() {
	select {
	case <-in.done:
	default:
		return
	}
	if in.err == nil || in.reported.Swap(true) {
		return
	}
	in.run.failLate(fmt.Errorf("stream: %w", in.err))
}

// abandon implements input.
func (in *streamInput) abandon() int {
	in.close()
	n := 0
	for {
		select {
		case <-in.ch:
			n++
		default:
			return n
		}
	}
}
