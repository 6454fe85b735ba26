package stage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrInvalidPipeline is wrapped by the error Run returns when the
	// pipeline was built wrongly: a missing source or write stage, a
	// duplicate stage name, a flow used twice, an invalid option. The
	// message names what was wrong.
	ErrInvalidPipeline = errors.New("invalid pipeline")

	// ErrAlreadyRunning is returned by Run when the pipeline is running
	// already, or when a stage of an earlier run is still stuck.
	ErrAlreadyRunning = errors.New("pipeline already running")

	// ErrAttemptTimeout is the cause with which a write attempt's context
	// is cancelled when RetryPolicy.AttemptTimeout passes. It wraps
	// context.DeadlineExceeded.
	ErrAttemptTimeout = fmt.Errorf("write attempt timed out: %w", context.DeadlineExceeded)
)

// errStopped is how the entry learns that the drain has begun.
var errStopped = errors.New("pipeline draining")

// errForced is the cause with which a forced drain cancels every stage.
var errForced = errors.New("pipeline drain forced")

// Permanent marks err as a failure that processing the message again
// cannot cure, such as a payload that does not decode: the message is
// dead-lettered with err's text in the reason. Returned by a Map or
// FlatMap function this is the default anyway; returned by a writer, or
// in a BatchError, it stops the retries of the messages concerned.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Redeliver marks err as a failure that may pass, such as a lookup that
// timed out: the message is nacked so that the broker delivers it again
// after delay. Returned by a writer, or in a BatchError, it nacks at once
// instead of retrying in place.
func Redeliver(delay time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &redeliverError{err: err, delay: delay}
}

// Fatal marks err as a failure of the stage rather than of the message,
// such as a lost connection: the stage returns err, its supervisor
// restarts it and the stages after it, and the restarted stage processes
// the same message or batch again. Messages are not settled because of a
// fatal error.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

type redeliverError struct {
	err   error
	delay time.Duration
}

func (e *redeliverError) Error() string { return e.err.Error() }
func (e *redeliverError) Unwrap() error { return e.err }

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// IsFatal reports whether the stages treat err as marked by Fatal: they
// fail the stage and keep the message or batch for the restarted stage.
//
// IsFatal, IsPermanent and IsRedeliver follow the rule the stages apply.
// They walk err's chain of single wraps (errors.Unwrap) from the outside
// in, and the first mark found wins, so Permanent(Fatal(err)) counts as
// Permanent alone. A mark inside an error that wraps several, such as one
// made by errors.Join or a *BatchError, does not count. At most one of the
// three reports true. None does for an unmarked error, which a write stage
// retries and a Map or FlatMap stage dead-letters.
func IsFatal(err error) bool {
	c, _ := classify(err)
	return c == classFatal
}

// IsPermanent reports whether the stages treat err as marked by Permanent:
// they dead-letter the message. See IsFatal for the rule.
func IsPermanent(err error) bool {
	c, _ := classify(err)
	return c == classPermanent
}

// IsRedeliver reports whether the stages treat err as marked by Redeliver:
// they nack the message with the mark's delay. See IsFatal for the rule.
func IsRedeliver(err error) bool {
	c, _ := classify(err)
	return c == classRedeliver
}

// errorClass is what a stage does about an error from user code.
type errorClass int

const (
	classRetry     errorClass = iota // plain error: retry (writer) or dead-letter (Map, FlatMap)
	classPermanent                   // dead-letter
	classRedeliver                   // nack with a delay
	classFatal                       // fail the stage, keep the message
)

// classify returns the class of err and, for classRedeliver, its delay.
// The outermost mark wins when several are nested.
func classify(err error) (errorClass, time.Duration) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch m := e.(type) {
		case *fatalError:
			return classFatal, 0
		case *permanentError:
			return classPermanent, 0
		case *redeliverError:
			return classRedeliver, m.delay
		}
	}
	return classRetry, 0
}

// BatchError is what a Writer returns when it wrote some messages of a
// batch and not others. Every message whose index is not in Failed was
// written and is acked. Each failure's Err is classified: Permanent
// dead-letters the message, Redeliver nacks it, and any other error
// retries it, alone with the other retried messages of the batch, under
// the write stage's RetryPolicy.
type BatchError struct {
	// Failed lists the messages that were not written, by their index in
	// the batch given to Write. An index out of range, or given twice,
	// makes the write stage treat the whole batch as failed and retry it.
	Failed []Failure
}

// Failure is one message of a batch that was not written.
type Failure struct {
	// Index is the message's position in the batch given to Write,
	// counted from 0.
	Index int
	// Err is why the message was not written, and decides its fate:
	// Permanent dead-letters it with Err's text as the reason, Redeliver
	// nacks it, and any other value, nil and Fatal included, retries it.
	Err error
}

// Error returns a summary naming the first failure.
func (e *BatchError) Error() string {
	if len(e.Failed) == 0 {
		return "batch write: no failed messages listed"
	}
	first := e.Failed[0]
	return fmt.Sprintf("batch write: %d messages failed, first at index %d: %v", len(e.Failed), first.Index, first.Err)
}

// Unwrap returns the errors of the failures, so that errors.Is and
// errors.As see them.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, f := range e.Failed {
		errs = append(errs, f.Err)
	}
	return errs
}
