package supervisor

import (
	"fmt"
	"strings"
	"time"
)

// Restart is a child's restart policy. The zero value is Permanent.
type Restart int

const (
	// Permanent children are restarted whenever they return, even with nil:
	// a permanent child is expected to run until it is stopped.
	Permanent Restart = iota
	// Transient children are restarted only after a failure (an error or a
	// panic); returning nil ends them for good.
	Transient
	// Temporary children are never restarted. Once a temporary child ends,
	// or is stopped because a sibling failed, it is removed from its
	// supervisor and its name can be used again.
	Temporary
)

// String returns the policy's name in lower case, such as "transient".
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

func (r Restart) valid() bool { return r >= Permanent && r <= Temporary }

// Spec describes a child to a supervisor: what to run, under which name,
// and how to treat it when it returns. The zero value of every field other
// than Name and Child means the default documented on the field.
type Spec struct {
	// Name identifies the child among its siblings and is its segment of
	// the path ("root/sink/write"), so it must be non-empty and must not
	// contain '/'. An empty Name is allowed when Child is a *Supervisor:
	// the supervisor's own name is used.
	Name string

	// Child is what runs. It must not be nil.
	Child Child

	// Restart is the restart policy, Permanent by default.
	Restart Restart

	// ShutdownTimeout is how long the supervisor waits for Run to return
	// after cancelling its context. A child that takes longer is reported
	// (see StopTimedOut) and left behind: the supervisor goes on as if it
	// had returned, and if the child is to be restarted a new Run starts
	// while the old one may still be running. Zero means the supervisor's
	// default (see WithShutdownTimeout), except for a child that is itself
	// a *Supervisor, which is waited for without limit because it returns
	// once each of its own children has returned or timed out. A negative
	// value means to wait without limit.
	ShutdownTimeout time.Duration

	// Significant marks a child whose end may stop the supervisor, as set
	// by WithAutoShutdown. Only Transient and Temporary children can be
	// significant, since a Permanent child never ends by itself.
	Significant bool

	// Backoff sets how long to wait before each restart of this child. Nil
	// means the supervisor's (see WithBackoff).
	Backoff *Backoff
}

// validate checks the spec and fills in the defaults that depend only on
// the spec itself.
func (sp *Spec) validate() error {
	if sp.Child == nil {
		return fmt.Errorf("child %q: %w: nil Child", sp.Name, ErrInvalidSpec)
	}
	if sp.Name == "" {
		if nested, ok := sp.Child.(*Supervisor); ok {
			sp.Name = nested.Name()
		}
	}
	if sp.Name == "" {
		return fmt.Errorf("%w: empty Name", ErrInvalidSpec)
	}
	if strings.Contains(sp.Name, "/") {
		return fmt.Errorf("child %q: %w: Name contains '/', the path separator", sp.Name, ErrInvalidSpec)
	}
	if !sp.Restart.valid() {
		return fmt.Errorf("child %q: %w: unknown restart policy %v", sp.Name, ErrInvalidSpec, sp.Restart)
	}
	if sp.Significant && sp.Restart == Permanent {
		return fmt.Errorf("child %q: %w: a permanent child cannot be significant, make it Transient or Temporary", sp.Name, ErrInvalidSpec)
	}
	if sp.Backoff != nil {
		if err := sp.Backoff.validate(); err != nil {
			return fmt.Errorf("child %q: %w: %w", sp.Name, ErrInvalidSpec, err)
		}
	}
	return nil
}
