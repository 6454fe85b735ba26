package supervisor

import "fmt"

// requestOp names the method whose call a request carries.
type requestOp int

const (
	opAdd requestOp = iota
	opRemove
	opChildren
)

// request is a call of Add, Remove or Children handed to the run loop,
// which sends the result on reply or children.
type request struct {
	op       requestOp
	spec     Spec
	name     string
	reply    chan error
	children chan []ChildInfo
}

// handleRequest carries out a request in the loop's goroutine. A Remove
// of a running child gets its reply only once the child has stopped.
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
