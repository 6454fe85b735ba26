package supervisor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// engine is one run of a supervisor: the loop that owns the children's
// records from the start of Run until it returns. Everything it does
// happens in the goroutine that called Run; children report to it through
// exits, and Add, Remove and Children through requests.
type engine struct {
	s          *Supervisor
	cfg        *config
	path       string
	clock      clock.Clock
	parentEmit func(Event)
	observed   bool            // some hook, here or above, wants events
	base       context.Context // ctx's values without its cancellation

	exits    chan exit
	requests chan request
	done     chan struct{} // closed when Run has returned

	timer      clock.Timer // nil until first needed
	timerArmed bool
	timerAt    time.Time

	// stopQueue holds the children to stop, one at a time, the first
	// being stopped now.
	stopQueue    []*child
	restarts     []time.Time // restart times within the intensity period
	shuttingDown bool
	result       error
}

// exit is the report a child's goroutine sends when its Run returned.
type exit struct {
	child   *child
	gen     uint64
	err     error
	stopped bool // the child's own context was done when Run returned
}

type requestOp int

const (
	opAdd requestOp = iota
	opRemove
	opChildren
)

type request struct {
	op       requestOp
	spec     Spec
	name     string
	reply    chan error
	children chan []ChildInfo
}

func newEngine(s *Supervisor, ctx context.Context, path string, clk clock.Clock, parentEmit func(Event)) *engine {
	e := &engine{
		s:          s,
		cfg:        &s.cfg,
		path:       path,
		clock:      clk,
		parentEmit: parentEmit,
		observed:   s.events != nil || parentEmit != nil,
		base:       context.WithoutCancel(ctx),
		exits:      make(chan exit),
		requests:   make(chan request),
		done:       make(chan struct{}),
	}
	if s.events != nil {
		s.events.setPath(path, clk)
	}
	for _, c := range s.children {
		e.prepare(c)
	}
	return e
}

// prepare readies a child's record for this run.
func (e *engine) prepare(c *child) {
	c.path = e.path + "/" + c.spec.Name
	c.timeout = c.spec.ShutdownTimeout
	if c.timeout == 0 {
		c.timeout = e.cfg.shutdownTimeout
		if _, nested := c.spec.Child.(*Supervisor); nested {
			c.timeout = -1
		}
	}
	b := e.cfg.backoff
	if c.spec.Backoff != nil {
		b = c.spec.Backoff.withDefaults()
	}
	c.delays = newRetryDelays(b, e.clock)
	sc := &scope{path: c.path, clock: e.clock}
	if e.observed {
		sc.emit = e.emit
	}
	c.ctx = withScope(e.base, sc)
	c.state = ChildPending
	c.dueAt = time.Time{}
	c.starts = 0
}

func (e *engine) emit(ev Event) {
	if e.s.events != nil {
		e.s.events.send(ev)
	}
	if e.parentEmit != nil {
		e.parentEmit(ev)
	}
}

// loop supervises until the run is over and returns Run's result.
func (e *engine) loop(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	e.step()

	for !e.shuttingDown || len(e.stopQueue) > 0 {
		var timerC <-chan time.Time
		if e.timerArmed {
			timerC = e.timer.C()
		}
		var ctxDone <-chan struct{}
		if !e.shuttingDown {
			ctxDone = ctx.Done()
		}

		select {
		case <-ctxDone:
			e.beginShutdown(nil)
		case x := <-e.exits:
			e.handleExit(x)
		case <-timerC:
			e.timerArmed = false
			e.handleTimer()
		case r := <-e.requests:
			e.handleRequest(r)
		}
		e.step()
	}

	if e.timerArmed {
		e.timer.Stop()
	}
	return e.result
}

// step does what has become possible: it cancels the next child to stop,
// starts the children that are due, and arms the timer for the next
// deadline.
func (e *engine) step() {
	now := e.clock.Now()
	var next time.Time

	e.trimStopQueue()
	if len(e.stopQueue) > 0 {
		head := e.stopQueue[0]
		if head.state == ChildRunning {
			e.cancelChild(head, now)
		}
		next = head.stopDeadline
	}

	if !e.shuttingDown && !(e.cfg.strategy.ordered() && len(e.stopQueue) > 0) {
		for _, c := range e.s.children {
			if c.state != ChildPending {
				continue
			}
			if c.dueAt.After(now) {
				next = earliest(next, c.dueAt)
				if e.cfg.strategy.ordered() {
					break // later children start after this one
				}
				continue
			}
			e.start(c, now)
		}
	}

	e.arm(next, now)
}

// trimStopQueue drops children that returned by themselves before their
// turn came.
func (e *engine) trimStopQueue() {
	for len(e.stopQueue) > 0 {
		head := e.stopQueue[0]
		if head.queued && (head.state == ChildRunning || head.state == ChildStopping) {
			return
		}
		head.queued = false
		e.stopQueue = e.stopQueue[1:]
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// arm makes the timer fire at next, or stops it when next is zero.
func (e *engine) arm(next, now time.Time) {
	if next.IsZero() {
		if e.timerArmed {
			e.timer.Stop()
			e.timerArmed = false
		}
		return
	}
	if e.timerArmed && e.timerAt.Equal(next) {
		return
	}
	d := next.Sub(now)
	if e.timer == nil {
		e.timer = e.clock.NewTimer(d)
	} else {
		e.timer.Reset(d)
	}
	e.timerArmed, e.timerAt = true, next
}

func (e *engine) start(c *child, now time.Time) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	c.gen++
	c.cancel = cancel
	c.state = ChildRunning
	c.startedAt = now
	if e.observed {
		e.emit(ChildStarted{At: now, ChildPath: c.path, Restarts: c.starts})
	}
	c.starts++
	go e.runInstance(ctx, c, c.spec.Child, c.gen)
}

func (e *engine) cancelChild(c *child, now time.Time) {
	c.state = ChildStopping
	if c.timeout >= 0 {
		c.stopDeadline = now.Add(c.timeout)
	}
	c.cancel(c.stopCause)
}

// markStop decides to stop a running child, with cause, and what to do
// afterwards; the stop itself happens in its turn.
func (e *engine) markStop(c *child, cause error, after afterStop) {
	c.stopCause = cause
	c.afterStop = after
	if !c.queued {
		c.queued = true
		e.stopQueue = append(e.stopQueue, c)
	}
}

func (e *engine) handleTimer() {
	now := e.clock.Now()
	if len(e.stopQueue) == 0 {
		return // a start is due; step does it
	}
	head := e.stopQueue[0]
	if head.state != ChildStopping || head.stopDeadline.IsZero() || head.stopDeadline.After(now) {
		return
	}

	// The instance is left behind: a later report from it is ignored
	// because gen moves on.
	if e.observed {
		e.emit(StopTimedOut{At: now, ChildPath: head.path, Timeout: head.timeout})
	}
	head.gen++
	e.finishStop(head, fmt.Errorf("child %s: %w", head.path, ErrStopTimeout))
}

// finishStop ends a stop the loop asked for, once the child returned or
// timed out, and does what was decided for the child.
func (e *engine) finishStop(c *child, removeErr error) {
	if c.queued {
		c.queued = false
		if e.stopQueue[0] == c {
			e.stopQueue = e.stopQueue[1:] // the usual case, and O(1)
		} else if i := slices.Index(e.stopQueue, c); i >= 0 {
			e.stopQueue = slices.Delete(e.stopQueue, i, i+1)
		}
	}
	after := c.afterStop
	replies := c.replies
	c.stopCause, c.afterStop, c.replies = nil, afterShutdown, nil
	c.stopDeadline = time.Time{}
	c.cancel(context.Canceled)

	switch after {
	case afterShutdown, afterRestart:
		c.state = ChildPending
	case afterEnd:
		e.s.deleteLocked(c)
	case afterRemove:
		e.s.deleteLocked(c)
		for _, r := range replies {
			r <- removeErr
		}
	}
}

func (e *engine) handleExit(x exit) {
	c := x.child
	if x.gen != c.gen || (c.state != ChildRunning && c.state != ChildStopping) {
		return // an instance left behind after its stop timed out
	}
	now := e.clock.Now()
	ran := now.Sub(c.startedAt)

	if c.stopCause != nil {
		e.reportStopExit(c, x, now, ran)
		e.finishStop(c, nil)
		return
	}
	c.cancel(context.Canceled)

	failure := e.reportExit(c, x, now, ran)
	restart := c.spec.Restart == Permanent || (c.spec.Restart == Transient && failure != nil)
	if !restart {
		e.end(c, now)
		return
	}

	if !e.allowRestart(now) {
		err := &ChildError{Path: c.path, Err: failure}
		if failure == nil {
			err.Err = errPermanentExited
		}
		if e.observed {
			e.emit(GaveUp{At: now, ChildPath: e.path, MaxRestarts: e.cfg.maxRestarts, Period: e.cfg.period, Err: err})
		}
		c.state = ChildPending
		e.beginShutdown(&IntensityError{Path: e.path, MaxRestarts: e.cfg.maxRestarts, Period: e.cfg.period, Err: err})
		return
	}

	c.delays.observeRun(ran)
	delay := c.delays.next()
	if e.observed {
		e.emit(ChildRestarting{At: now, ChildPath: c.path, Err: failure, Delay: delay, Attempt: c.delays.attempt})
	}
	c.state = ChildPending
	c.dueAt = now.Add(delay)
	e.restartSiblings(c)
}

// reportStopExit reports the return of a child the loop had decided to
// stop.
func (e *engine) reportStopExit(c *child, x exit, now time.Time, ran time.Duration) {
	if !e.observed {
		return
	}
	if x.stopped {
		e.emit(ChildStopped{At: now, ChildPath: c.path, Cause: c.stopCause, Err: x.err})
		return
	}
	e.reportExit(c, x, now, ran)
}

// reportExit reports a child that returned by itself and returns its
// failure, nil for a normal exit.
func (e *engine) reportExit(c *child, x exit, now time.Time, ran time.Duration) error {
	if x.err == nil {
		if e.observed {
			e.emit(ChildExited{At: now, ChildPath: c.path, Ran: ran})
		}
		return nil
	}
	if p, ok := x.err.(*PanicError); ok {
		if e.observed {
			e.emit(ChildPanicked{At: now, ChildPath: c.path, Err: p, PanicValue: p.Value, Stack: p.Stack, Ran: ran})
		}
		return x.err
	}
	if e.observed {
		e.emit(ChildFailed{At: now, ChildPath: c.path, Err: x.err, Ran: ran})
	}
	return x.err
}

// end handles a child that its policy does not restart.
func (e *engine) end(c *child, now time.Time) {
	if c.spec.Restart == Temporary {
		e.s.deleteLocked(c)
	} else {
		c.state = ChildEnded
	}
	if !c.spec.Significant {
		return
	}

	switch e.cfg.autoShutdown {
	case Never:
		return
	case AllSignificant:
		for _, other := range e.s.children {
			if other != c && other.spec.Significant && other.state != ChildEnded {
				return
			}
		}
	}
	if e.observed {
		e.emit(AutoShutdownStarted{At: now, ChildPath: e.path, Trigger: c.path, Mode: e.cfg.autoShutdown})
	}
	e.beginShutdown(nil)
}

// allowRestart counts a restart against the intensity limit, or reports
// that it would exceed the limit.
func (e *engine) allowRestart(now time.Time) bool {
	cutoff := now.Add(-e.cfg.period)
	keep := 0
	for keep < len(e.restarts) && !e.restarts[keep].After(cutoff) {
		keep++
	}
	e.restarts = e.restarts[keep:]
	if len(e.restarts) >= e.cfg.maxRestarts {
		return false
	}
	e.restarts = append(e.restarts, now)
	return true
}

// restartSiblings applies OneForAll or RestForOne after c failed: the
// siblings it names are stopped in reverse start order and wait for c's
// delay to start again.
func (e *engine) restartSiblings(c *child) {
	var group []*child
	switch e.cfg.strategy {
	case OneForOne:
		return
	case OneForAll:
		group = e.s.children
	case RestForOne:
		i := slices.Index(e.s.children, c)
		group = e.s.children[i+1:]
	}

	for i := len(group) - 1; i >= 0; i-- {
		o := group[i]
		if o == c {
			continue
		}
		switch o.state {
		case ChildRunning:
			if o.stopCause != nil {
				continue // already being stopped for another reason
			}
			after := afterRestart
			if o.spec.Restart == Temporary {
				after = afterEnd
			}
			e.markStop(o, ErrSiblingFailed, after)
			o.dueAt = c.dueAt
		case ChildStopping:
			if o.afterStop == afterRestart {
				o.dueAt = latest(o.dueAt, c.dueAt)
			}
		case ChildPending:
			o.dueAt = latest(o.dueAt, c.dueAt)
		}
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// beginShutdown starts stopping every running child in reverse start
// order; Run returns result once they all returned or timed out.
func (e *engine) beginShutdown(result error) {
	if e.shuttingDown {
		return
	}
	e.shuttingDown = true
	e.result = result

	// The child being stopped now keeps its turn; every other running
	// child is queued again in reverse start order.
	var head *child
	if len(e.stopQueue) > 0 && e.stopQueue[0].state == ChildStopping {
		head = e.stopQueue[0]
	}
	for _, c := range e.stopQueue {
		c.queued = false
	}
	e.stopQueue = e.stopQueue[:0]
	if head != nil {
		head.queued = true
		e.stopQueue = append(e.stopQueue, head)
		if head.afterStop == afterRestart {
			head.afterStop = afterShutdown
		}
	}
	for i := len(e.s.children) - 1; i >= 0; i-- {
		c := e.s.children[i]
		if c == head || c.state != ChildRunning {
			continue
		}
		switch c.afterStop {
		case afterRemove, afterEnd:
			e.markStop(c, c.stopCause, c.afterStop)
		default:
			e.markStop(c, ErrShutdown, afterShutdown)
		}
	}
}

func (e *engine) handleRequest(r request) {
	switch r.op {
	case opAdd:
		r.reply <- e.add(r.spec)
	case opRemove:
		e.remove(r.name, r.reply)
	case opChildren:
		r.children <- e.s.snapshotLocked()
	}
}

func (e *engine) add(spec Spec) error {
	if e.shuttingDown {
		return fmt.Errorf("supervisor %s: add child %q: %w", e.path, spec.Name, ErrStopped)
	}
	if _, taken := e.s.byName[spec.Name]; taken {
		return fmt.Errorf("supervisor %s: add child %q: %w", e.path, spec.Name, ErrDuplicateName)
	}
	c := newChild(spec)
	e.prepare(c)
	c.dueAt = e.clock.Now()
	e.s.insertLocked(c)
	return nil
}

func (e *engine) remove(name string, reply chan error) {
	c, ok := e.s.byName[name]
	if !ok {
		reply <- fmt.Errorf("supervisor %s: remove child %q: %w", e.path, name, ErrNotFound)
		return
	}
	switch c.state {
	case ChildPending, ChildEnded:
		e.s.deleteLocked(c)
		reply <- nil
	case ChildRunning:
		e.markStop(c, ErrRemoved, afterRemove)
		c.replies = append(c.replies, reply)
	case ChildStopping:
		c.afterStop = afterRemove
		c.replies = append(c.replies, reply)
	}
}

// finish readies the records for the next run; the caller holds s.mu.
func (e *engine) finish() {
	for _, c := range slices.Clone(e.s.children) {
		if c.spec.Restart == Temporary {
			e.s.deleteLocked(c)
			continue
		}
		c.state = ChildPending
		c.cancel = nil
		c.delays = nil
	}
}
