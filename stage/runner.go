package stage

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// status is the activity of a stage, kept so that a drain that misses its
// deadline can name the stage that held it up.
type status int32

const (
	statusStopped status = iota // not running
	statusWaiting               // waiting for input
	statusBusy                  // processing, in user code or retrying
	statusSending               // waiting for room in the next channel
	statusDone                  // input closed, output flushed and closed
)

func (s status) String() string {
	switch s {
	case statusStopped:
		return "stopped"
	case statusWaiting:
		return "waiting for input"
	case statusBusy:
		return "busy"
	case statusSending:
		return "waiting for the next stage"
	case statusDone:
		return "done"
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// runner is the pipeline's view of a stage: a supervised child whose state
// outlives its runs, so that a restarted stage goes on where the failed one
// stopped.
type runner interface {
	supervisor.Child
	base() *stageBase
	// loop does the stage's work until its input is closed and drained,
	// returning nil, or until ctx is done or the stage fails.
	loop(ctx context.Context) error
	// settleHeld settles every message the stage holds, after the pipeline
	// gave up on it: nacked if it was not written, applied if it was. When
	// running is true the stage's goroutine is still running, stuck in
	// user code, and only the state it published may be read. Called with
	// the stage's mutex held.
	settleHeld(tl *tally, running bool)
	// reset clears the state of a finished run before the next one.
	reset()
}

// stageBase is the part of every stage that deals with its runs.
type stageBase struct {
	name string
	p    *Pipeline

	// token holds a value while a run is in progress. A supervisor that
	// gave up waiting for a stuck run may start another, and the new run
	// waits here rather than share the state with the old one.
	token chan struct{}

	status atomic.Int32
	obs    *Observer // nil without an observer

	// drainOut settles what waits in the stage's output channel; nil for
	// the ack stage, which has none.
	drainOut func(*tally) int

	mu      sync.Mutex
	path    string // the path in the supervision tree, once known
	running bool   // a run is between enter and leave
	forced  bool   // the pipeline has settled what the stage held
}

func newStageBase(p *Pipeline, name string) stageBase {
	return stageBase{name: name, p: p, token: make(chan struct{}, 1), path: p.name + "/" + name, obs: p.obs}
}

func (b *stageBase) base() *stageBase { return b }

func (b *stageBase) setStatus(s status) { b.status.Store(int32(s)) }

func (b *stageBase) getStatus() status { return status(b.status.Load()) }

// pathName returns the stage's path in the supervision tree.
func (b *stageBase) pathName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.path
}

// runStage is the Run method of every stage. It makes sure that one run at
// a time touches the stage's state, and cancels the run when the pipeline
// forces its drain. A run that ends after that settles what it holds.
func runStage(ctx context.Context, r runner) error {
	b := r.base()
	select {
	case b.token <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-b.token }()

	b.mu.Lock()
	if b.forced || isDone(b.p.forceCtx.Done()) {
		// The pipeline has settled this stage's messages, or is about to:
		// a supervisor that restarted the stage as the drain was forced
		// must not have it write, or take messages, again.
		b.mu.Unlock()
		return nil
	}
	b.running = true
	if path := supervisor.PathFromContext(ctx); path != "" {
		b.path = path
	}
	b.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	stopForcing := context.AfterFunc(b.p.forceCtx, func() { cancel(errForced) })
	defer func() {
		stopForcing()
		cancel(nil)

		b.mu.Lock()
		defer b.mu.Unlock()
		b.running = false
		if b.getStatus() != statusDone {
			b.setStatus(statusStopped)
		}
		if b.forced {
			// The pipeline forced the drain while this run was still going:
			// settle what it holds, and what it may have sent after the
			// pipeline emptied its output channel.
			tl := newTally(b.p.flow, "")
			r.settleHeld(&tl, false)
			if b.drainOut != nil {
				b.drainOut(&tl)
			}
			tl.flush()
		}
	}()

	return r.loop(ctx)
}

// panicError turns a recovered panic into the failure a stage returns, in
// the form its supervisor reports.
func panicError(stage string, value any) error {
	return fmt.Errorf("stage %s: %w", stage, &supervisor.PanicError{Value: value, Stack: debug.Stack()})
}

// nackAll nacks every message of msgs that is still pending, for the
// pipeline's clean-up, and returns how many it settled.
func nackAll[T any](msgs []Msg[T], v verdict, tl *tally) int {
	n := 0
	for _, m := range msgs {
		if m.t != nil && m.t.settleIfPending(v, tl) {
			n++
		}
	}
	return n
}
