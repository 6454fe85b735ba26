package supervisor

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The loop stops children one at a time, in the order of stopQueue: the
// head is cancelled, and the next is cancelled only once the head has
// returned or its shutdown timeout has passed. Shutdown, a strategy's
// restart of siblings and Remove all go through the queue.

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

// cancelChild cancels the context of the child whose turn to stop has come
// and sets its deadline.
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

// handleTimer gives up waiting for the head of the stop queue when its
// deadline has passed. Due restarts need nothing here, because step starts
// them.
func (e *engine) handleTimer() {
	now := e.clock.Now()
	if len(e.stopQueue) == 0 {
		return
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
