package supervisor

import (
	"context"
	"fmt"
	"time"
)

// ChildState is where a child is in its life, as Children reports it.
type ChildState int

const (
	// ChildPending is a child waiting to start: before Run, during its
	// backoff delay, or, under OneForAll and RestForOne, until the children
	// before it run.
	ChildPending ChildState = iota
	// ChildRunning is a child whose Run is in progress.
	ChildRunning
	// ChildStopping is a child whose context was cancelled and whose Run
	// has not returned yet.
	ChildStopping
	// ChildEnded is a child that returned and that its policy does not
	// restart. It starts again only with the next Run of its supervisor.
	ChildEnded
)

// String returns the state in lower case, such as "running".
func (s ChildState) String() string {
	switch s {
	case ChildPending:
		return "pending"
	case ChildRunning:
		return "running"
	case ChildStopping:
		return "stopping"
	case ChildEnded:
		return "ended"
	}
	return fmt.Sprintf("ChildState(%d)", int(s))
}

// ChildInfo describes one child in a snapshot returned by Children.
type ChildInfo struct {
	// Name identifies the child among its siblings: its Spec.Name, or
	// the nested supervisor's name when Spec.Name was empty.
	Name string
	// Path is the child's path in the tree, such as "root/sink/write".
	Path string
	// State is the child's state when Children took the snapshot.
	State ChildState
	// Restart is the child's restart policy, from its Spec.
	Restart Restart
	// Significant reports whether the child's end may stop the
	// supervisor (see Spec.Significant).
	Significant bool
	// Starts is how many times the child was started in the current or
	// latest run of its supervisor.
	Starts int
}

// afterStop is what the run loop does with a child once a stop it asked
// for is over.
type afterStop int

const (
	afterShutdown afterStop = iota // keep it for the next run
	afterRestart                   // start it again when due (sibling failed)
	afterEnd                       // forget it (a Temporary child)
	afterRemove                    // forget it and answer Remove
)

// child is a supervisor's record of one child. Its fields other than spec
// belong to the run loop.
type child struct {
	spec Spec

	// Resolved for the current run.
	path    string
	timeout time.Duration // negative: wait without limit
	delays  *retryDelays
	ctx     context.Context // parent of each instance's context

	state     ChildState
	gen       uint64 // counts instances, so that late exits are told apart
	cancel    context.CancelCauseFunc
	startedAt time.Time
	starts    int
	dueAt     time.Time // when a pending child may start

	// Set while the loop is stopping the child.
	stopCause    error // non-nil from the decision to stop until the stop is over
	afterStop    afterStop
	queued       bool      // in the stop queue
	stopDeadline time.Time // zero: no deadline
	replies      []chan error
}

func newChild(spec Spec) *child {
	return &child{spec: spec, state: ChildPending}
}

func (c *child) info(parentPath string) ChildInfo {
	path := c.path
	if path == "" {
		path = parentPath + "/" + c.spec.Name
	}
	return ChildInfo{
		Name:        c.spec.Name,
		Path:        path,
		State:       c.state,
		Restart:     c.spec.Restart,
		Significant: c.spec.Significant,
		Starts:      c.starts,
	}
}
