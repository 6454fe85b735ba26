package supervisor

import (
	"context"
	"slices"
	"time"
)

// handleExit handles the return of a child: the end of a stop the loop
// asked for, or a return by the child itself, which its policy, the
// intensity limit, its backoff and the strategy then decide about.
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
