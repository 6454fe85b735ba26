package supervisor

import (
	"context"
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
