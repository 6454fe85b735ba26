package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// errRunEnded is the cause with which a run cancels its contexts once the
// pipeline has returned, to stop a Stream still running.
var errRunEnded = errors.New("source run ended")

// errDrainDeadline is the cause with which a run cancels its pipeline
// context when the drain has used up its graceful share of DrainTimeout.
var errDrainDeadline = errors.New("source drain deadline passed")

// forceShare is the share of the pipeline's part of DrainTimeout kept for
// the forced phase of its drain.
const forceShare = stage.DefaultForceShare

// The stage names of the pipeline, as they appear in supervisor paths and
// metric attributes.
const (
	stagePoll    = "poll"
	stageStream  = "stream"
	stageBatch   = "batch"
	stagePublish = "publish"
)

// run is the state of one Run: the ledger of its records, the pipeline's
// context, and the failure that stopped it, if any.
type run struct {
	rt     *Runtime
	opts   *Options
	log    *slog.Logger
	ledger *ledger

	// ictx is the input's context: Poll and Stream run under it. It is
	// done when the drain begins, because ctx ended, the run failed or
	// Force was called. The input then hands out the records it holds,
	// and ends.
	ictx      context.Context
	stopInput context.CancelCauseFunc

	// pctx is the pipeline's context. It is done when the drain has used
	// up its graceful share of DrainTimeout, when Force was called, and
	// once the pipeline has returned.
	pctx   context.Context
	cancel context.CancelCauseFunc
	p      *stage.Pipeline // set once the pipeline is built, under mu

	// unsent counts the records the input took from the connector and
	// never handed to the pipeline, because the drain was cut short. Set
	// once the pipeline has returned.
	unsent int

	// forced is done once Force was called: sends in flight are cut
	// short, and the records not yet sent fail at once.
	forced      context.Context
	forceCancel context.CancelCauseFunc

	mu      sync.Mutex
	failure error

	stoppedAt atomic.Pointer[time.Time] // when the Run's context ended

	panicLogged atomic.Bool // a stack of a panic in Commit or Stream was logged

	// Used by one goroutine at a time: the commit loop, then the final
	// commit after it.
	committedVersion uint64
	commitFailures   int
	// lateErrs lists the panics and Fatal errors of the connector's Commit
	// and Stream that came after the drain began. It is guarded by mu.
	lateErrs []error
}

func (rt *Runtime) newRun(start Checkpoint) *run {
	rn := &run{rt: rt, opts: &rt.opts, log: rt.log}
	rn.ledger = newLedger(start, rt.opts.CheckpointEvery, rn.recordFailed)
	rn.forced, rn.forceCancel = context.WithCancelCause(context.Background())
	return rn
}

// force cuts the run short: the input stops, the pipeline's drain is
// forced, and the publisher fails every record it has not sent yet.
func (rn *run) force() {
	rn.forceCancel(ErrForced)
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.stopInput != nil {
		rn.stopInput(ErrForced)
		rn.cancel(ErrForced)
	}
	if rn.p != nil {
		// Ends the graceful phase of the drain at once, including a
		// batch waiting out a retry backoff in the write stage.
		rn.p.Force()
	}
}

// fail stops the run because of err: the run drains, publishing what it
// took, and Run returns err. A failure while the run is draining anyway,
// such as a record the drain did not get to, is not the run's failure:
// the checkpoint stays before it all the same, and Run reports it as an
// unpublished record. It reports whether err became the run's failure.
func (rn *run) fail(err error) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.failure != nil || rn.stopInput == nil || rn.ictx.Err() != nil {
		return false
	}
	rn.failure = err
	rn.stopInput(err)
	return true
}

// failLate stops the run because of err, like fail. After the drain
// began, when err can no longer stop the run, a panic or a Fatal error is
// kept for Run to report.
func (rn *run) failLate(err error) {
	if rn.fail(err) || !severe(err) {
		return
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.lateErrs = append(rn.lateErrs, err)
}

// lateErrors returns the errors that failLate kept.
func (rn *run) lateErrors() []error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.lateErrs
}

// severe reports whether err is a panic or marked Fatal.
func severe(err error) bool {
	var perr *supervisor.PanicError
	return errors.As(err, &perr) || errors.Is(err, ErrFatal)
}

// draining reports whether the drain has begun: the input takes no more
// records from the connector.
func (rn *run) draining() bool { return rn.ictx.Err() != nil }

// recordFailed is the ledger's report of a record that was not published.
func (rn *run) recordFailed(seq uint64, err error) {
	rn.rt.failed.Add(1)
	rn.fail(fmt.Errorf("record %d of the run: %w: %w", seq, ErrUnpublished, err))
}

// panicError returns the error of a panic with value r in the
// connector's method named method, and logs the stack of the first such
// panic of the run. The error's text does not hold the stack, so that a
// log of Run's error does not repeat it.
func (rn *run) panicError(method string, r any) error {
	stack := debug.Stack()
	if rn.panicLogged.CompareAndSwap(false, true) {
		rn.log.Error("connector panicked", slog.String("method", method), slog.Any("panic", r),
			slog.String("stack", string(stack)))
	}
	return &supervisor.PanicError{Value: r, Stack: stack}
}

func (rn *run) failed() error {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.failure
}

// pipeline builds the run's pipeline and runs it until the input is
// exhausted, or until the drain that begins when ctx ends or the run fails
// is over. The commit loop runs alongside.
//
// The drain is in two steps. First the input stops taking records from
// the connector and hands the pipeline those it took, while the pipeline
// publishes as usual, so that nothing the connector handed over is left
// behind. When that takes longer than the graceful share of the drain,
// the pipeline's drain is forced, and what it did not publish fails, as
// do the records the input still holds.
func (rn *run) pipeline(ctx context.Context, pub *publisher) error {
	rt, opts := rn.rt, rn.opts
	rn.mu.Lock()
	rn.ictx, rn.stopInput = context.WithCancelCause(ctx)
	rn.pctx, rn.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	if rn.forced.Err() != nil {
		rn.stopInput(ErrForced)
		rn.cancel(ErrForced)
	}
	rn.mu.Unlock()
	defer rn.cancel(errRunEnded)
	defer rn.stopInput(errRunEnded)
	stopWatch := context.AfterFunc(ctx, func() { rn.stopTime(ctx) })
	defer stopWatch()

	p := stage.New(opts.ConnectorName, rn.stageOptions())
	rn.mu.Lock()
	rn.p = p
	if rn.forced.Err() != nil {
		p.Force()
	}
	rn.mu.Unlock()
	var in input
	var stream *streamInput
	if rt.streamer != nil {
		stream = newStreamInput(rn, min(opts.BatchSize, 1024))
		in = stream
	} else {
		in = &pollInput{run: rn, conn: rt.poller}
	}
	entry := stage.From(p, rn.entryName(), stage.Source[*item](in))
	batches := stage.Batch(entry, stageBatch, stage.BatchOptions{MaxCount: opts.BatchSize, MaxWait: opts.BatchTimeout})
	stage.Write(batches, stagePublish, stage.Writer[*item](pub), stage.WriteOptions{Retry: rn.retryPolicy()})

	if reg, err := opts.Instrumentation.ObservePipeline(p); err != nil {
		rn.log.Warn("pipeline gauges not registered", slog.Any("error", err))
	} else {
		defer func() { _ = reg.Unregister() }()
	}

	if stream != nil {
		stream.start(rn.ictx, rt.streamer)
	}
	// Force cuts short a commit of the loop in progress.
	loopCtx, stopLoop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopLoop(nil)
	defer context.AfterFunc(rn.forced, func() { stopLoop(context.Cause(rn.forced)) })()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { rn.commitLoop(loopCtx, stop) })
	wg.Go(func() { rn.limitDrain(stop) })

	err := p.Run(rn.pctx)
	if err != nil && context.Cause(rn.pctx) == errDrainDeadline {
		err = fmt.Errorf("%w: %w", errDrainDeadline, err)
	}

	rn.stopInput(errRunEnded)
	rn.cancel(errRunEnded)
	close(stop)
	// Once ctx has ended and the pipeline has returned, a commit of the
	// loop in progress is cut short: the final commit, with the latest
	// checkpoint, gets the rest of DrainTimeout.
	stopCut := context.AfterFunc(ctx, func() { stopLoop(errRunEnded) })
	wg.Wait()
	stopCut()
	if n := in.abandon(); n > 0 {
		rn.unsent = n
		rt.failed.Add(uint64(n))
	}
	if stream != nil {
		rn.awaitStream(ctx, stream)
		stream.report()
	}
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// input is the pipeline's source: it takes records from the connector
// until the drain begins, hands out what it took, and then ends.
type input interface {
	stage.Source[*item]

	// abandon makes the input take nothing more, drops the records it
	// took and did not hand out, and returns how many there were. It is
	// called once the pipeline has returned.
	abandon() int
}

func (rn *run) entryName() string {
	if rn.rt.streamer != nil {
		return stageStream
	}
	return stagePoll
}

// limitDrain forces the pipeline's drain once the drain has used up its
// graceful share of DrainTimeout: the pipeline then fails what it did not
// publish within its forced phase. It returns when ended is closed.
func (rn *run) limitDrain(ended <-chan struct{}) {
	select {
	case <-rn.ictx.Done():
	case <-ended:
		return
	}
	t := rn.opts.Clock.NewTimer(rn.gracefulDrain())
	defer t.Stop()
	select {
	case <-t.C():
	case <-ended:
		return
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.p.Force()
	rn.cancel(errDrainDeadline)
}

// awaitStream waits for Stream to return after its context was cancelled,
// for at most the rest of the drain deadline.
func (rn *run) awaitStream(ctx context.Context, stream *streamInput) {
	wctx, cancel := rn.finishContext(ctx)
	defer cancel()
	select {
	case <-stream.done:
	case <-wctx.Done():
		// NOTE: the goroutine running Stream is left behind; the connector
		// breaks the contract that Stream returns once its context is done.
		rn.log.Error("stream did not return after its context was cancelled; closing the connector anyway")
	}
}

// pipelineDrain returns the part of DrainTimeout for publishing what the
// run took. The rest is for the final commit and Close.
func (rn *run) pipelineDrain() time.Duration { return rn.opts.DrainTimeout * 4 / 5 }

// gracefulDrain returns the part of DrainTimeout for publishing what the
// run took before the pipeline's drain is forced.
func (rn *run) gracefulDrain() time.Duration {
	d := rn.pipelineDrain()
	return d - time.Duration(float64(d)*forceShare)
}

// stageOptions returns the options of the run's pipeline. Its drain begins
// forced, once the graceful share of the run's drain is used up, so only
// its forced phase matters.
func (rn *run) stageOptions() stage.Options {
	opts := rn.opts
	so := stage.Options{
		MaxInFlight:  opts.MaxBuffered,
		DrainTimeout: rn.pipelineDrain(),
		ForceShare:   forceShare,
		Clock:        opts.Clock,
		Logger:       opts.Logger,
	}
	if in := opts.Instrumentation; in != nil {
		so.Observer = in.StageObserver()
		so.Supervisor = []supervisor.Option{supervisor.WithHook(in.SupervisorHook())}
	}
	return so
}

// retryPolicy returns the write stage's retries: MaxRetries of them,
// waiting RetryBackoff, doubling, each attempt bounded by SendTimeout.
func (rn *run) retryPolicy() stage.RetryPolicy {
	opts := rn.opts
	return stage.RetryPolicy{
		MaxAttempts:    opts.MaxRetries + 1,
		AttemptTimeout: opts.SendTimeout,
		Initial:        opts.RetryBackoff,
		Max:            max(maxRetryBackoff, opts.RetryBackoff),
		Multiplier:     2,
	}
}

// stopTime returns when ctx, the Run's context, ended, and false while it
// has not. The first call after ctx ended records the time: the function
// that context.AfterFunc runs may come after the steps that need it.
func (rn *run) stopTime(ctx context.Context) (time.Time, bool) {
	if at := rn.stoppedAt.Load(); at != nil {
		return *at, true
	}
	if ctx.Err() == nil {
		return time.Time{}, false
	}
	now := rn.opts.Clock.Now()
	rn.stoppedAt.CompareAndSwap(nil, &now)
	return *rn.stoppedAt.Load(), true
}

// finishContext returns the context of the final commit and of closing
// the producers and the connector. These steps get CommitTimeout while the
// Run's context lives, and no more than what is left of DrainTimeout once
// it has ended. A Force during these steps cuts them short. A Force
// before them does not, so that a forced Run still commits what the broker
// has acknowledged.
func (rn *run) finishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	clk := rn.opts.Clock
	budget, ended := rn.opts.CommitTimeout, ctx.Done()
	if at, ok := rn.stopTime(ctx); ok {
		budget, ended = max(rn.opts.DrainTimeout-clk.Since(at), 0), nil
	}
	tctx, release := withTimeout(context.WithoutCancel(ctx), clk, budget)
	fctx, cancel := context.WithCancelCause(tctx)
	stopForce := func() bool { return false }
	if rn.forced.Err() == nil {
		stopForce = context.AfterFunc(rn.forced, func() { cancel(context.Cause(rn.forced)) })
	}
	var wg sync.WaitGroup
	if ended != nil {
		wg.Go(func() {
			select {
			case <-ended:
			case <-fctx.Done():
				return
			}
			at, _ := rn.stopTime(ctx)
			if sleep(fctx, clk, rn.opts.DrainTimeout-clk.Since(at)) == nil {
				cancel(context.DeadlineExceeded)
			}
		})
	}
	return fctx, func() {
		stopForce()
		cancel(context.Canceled)
		wg.Wait()
		release()
	}
}
