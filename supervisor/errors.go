package supervisor

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrStopped is wrapped by the error Add returns when Run has
	// returned or the supervisor is shutting down.
	ErrStopped = errors.New("supervisor stopped")

	// ErrAlreadyRunning is wrapped by the error Run returns when another
	// Run of the same supervisor is in progress, for instance when a parent
	// restarts it while an earlier Run that timed out on stopping has not
	// returned yet.
	ErrAlreadyRunning = errors.New("supervisor already running")

	// ErrIntensity is wrapped by the error Run returns when more restarts
	// than the intensity limit allows happened within its period. Use
	// errors.As with *IntensityError for the details.
	ErrIntensity = errors.New("restart intensity exceeded")

	// ErrInvalidSpec is wrapped by the error Add returns for a spec it
	// rejects; the message names the field.
	ErrInvalidSpec = errors.New("invalid child spec")

	// ErrInvalidOption is wrapped by the error Run and Add return when an
	// option given to New was invalid; the message names the option.
	ErrInvalidOption = errors.New("invalid supervisor option")

	// ErrDuplicateName is wrapped by the error Add returns when a sibling
	// already has the name.
	ErrDuplicateName = errors.New("duplicate child name")

	// ErrNotFound is wrapped by the error Remove returns for a name that no
	// child has.
	ErrNotFound = errors.New("child not found")

	// ErrStopTimeout is wrapped by the error Remove returns when the child
	// did not return within its shutdown timeout.
	ErrStopTimeout = errors.New("child did not stop within its shutdown timeout")
)

// Causes with which a supervisor cancels a child's context; a child reads
// them with context.Cause to tell a final stop from a restart.
var (
	// ErrShutdown is the cause when the supervisor itself is stopping.
	ErrShutdown = errors.New("supervisor shutting down")
	// ErrRemoved is the cause when Remove was called for the child.
	ErrRemoved = errors.New("child removed")
	// ErrSiblingFailed is the cause when a sibling's failure makes the
	// strategy restart this child too (OneForAll, RestForOne).
	ErrSiblingFailed = errors.New("sibling failed")
)

// errGoexit is the failure of a child whose Run called runtime.Goexit, for
// instance through testing.T.FailNow, instead of returning.
var errGoexit = errors.New("child called runtime.Goexit instead of returning")

// errPermanentExited stands for the failure of a Permanent child that
// returned nil when such a return crosses the intensity limit.
var errPermanentExited = errors.New("permanent child returned nil")

// IntensityError is the error Run returns when the supervisor gave up:
// restarting a child would have made more than MaxRestarts restarts within
// Period. It matches ErrIntensity with errors.Is and unwraps to the failure
// that crossed the limit.
type IntensityError struct {
	// Path is the supervisor's path in the tree.
	Path string
	// MaxRestarts and Period are the limit that was exceeded.
	MaxRestarts int
	Period      time.Duration
	// Err is the child failure that would have needed one restart too
	// many.
	Err error
}

func (e *IntensityError) Error() string {
	return fmt.Sprintf("supervisor %s: more than %d restarts within %v: %v", e.Path, e.MaxRestarts, e.Period, e.Err)
}

// Is reports whether target is ErrIntensity.
func (e *IntensityError) Is(target error) bool { return target == ErrIntensity }

// Unwrap returns the failure that crossed the limit.
func (e *IntensityError) Unwrap() error { return e.Err }

// PanicError is the failure of a child whose Run panicked. The supervisor
// recovers the panic (unless WithPanicPassThrough is given), reports it as
// a ChildPanicked event and restarts the child by its policy.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the formatted stack of the goroutine that panicked, taken
	// where the panic was recovered, so it contains the panicking frames.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error, so that errors.Is
// matches the error of a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ChildError wraps a child's failure with the child's path, in GaveUp
// events and in the IntensityError a supervisor returns.
type ChildError struct {
	// Path is the child's path in the tree.
	Path string
	// Err is the child's error, or a *PanicError.
	Err error
}

func (e *ChildError) Error() string { return fmt.Sprintf("child %s: %v", e.Path, e.Err) }

// Unwrap returns the child's error.
func (e *ChildError) Unwrap() error { return e.Err }
