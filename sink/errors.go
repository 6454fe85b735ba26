package sink

import (
	"errors"
	"fmt"
	"strings"
)

// The error classes. A connector marks an error with Retryable, Fatal or
// InvalidData, and the runtime reacts to the class, found with errors.Is:
//
//   - ErrRetryable: the write may succeed later (a timeout, a lost
//     connection, a full server). The runtime retries the record with
//     backoff up to the configured limit, then nacks it so that the broker
//     redelivers it.
//   - ErrInvalidData: the record can never be written as it is (it does not
//     parse, it breaks a constraint). The runtime sends it to the dead-letter
//     topic and acks it, or nacks it when no dead-letter topic is configured.
//   - ErrFatal: the connector cannot go on (bad credentials, a missing
//     collection it may not create). The runtime closes the connector and
//     its routes nack what they hold. Its supervisor then decides: it
//     opens the connector again after a backoff delay, or gives up when
//     failures come too often, and Run returns the error.
//
// An error that carries no class is treated as retryable: retrying and then
// nacking never loses a record.
var (
	ErrRetryable   = errors.New("retryable")
	ErrInvalidData = errors.New("invalid data")
	ErrFatal       = errors.New("fatal")
)

// Class is one of ErrRetryable, ErrInvalidData or ErrFatal.
type Class = error

type classified struct {
	class error
	err   error
}

func (e *classified) Error() string {
	if e.err == nil {
		return e.class.Error()
	}
	return e.err.Error()
}

func (e *classified) Unwrap() []error { return []error{e.class, e.err} }

// Retryable marks err as worth retrying. It returns nil for a nil err.
func Retryable(err error) error { return classify(ErrRetryable, err) }

// InvalidData marks err as a problem with the record itself, which no
// retry can fix. It returns nil for a nil err.
func InvalidData(err error) error { return classify(ErrInvalidData, err) }

// Fatal marks err as one that stops the connector. It returns nil for a nil
// err.
func Fatal(err error) error { return classify(ErrFatal, err) }

func classify(class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: class, err: err}
}

// ClassOf returns the class of err: ErrFatal, ErrInvalidData or
// ErrRetryable, in that order of precedence when err carries several, and
// ErrRetryable when it carries none. It returns nil for a nil err.
func ClassOf(err error) Class {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrFatal):
		return ErrFatal
	case errors.Is(err, ErrInvalidData):
		return ErrInvalidData
	default:
		return ErrRetryable
	}
}

// RecordError is the failure of one record of a batch.
type RecordError struct {
	// Index is the position of the record in the batch given to Write.
	Index int
	// Err is the failure, marked with its class.
	Err error
}

// BatchError reports which records of a batch were not written. Every
// record of the batch that it does not name was written. A connector
// returns it from Write when only some records failed, so that the runtime
// acks the written ones and retries, dead-letters or nacks only the rest.
//
// Several BatchErrors joined with errors.Join, one per sub-batch for
// instance, count as one listing all their failures, and the indexes must
// then be distinct across them. An empty BatchError among them, or one
// joined with an error of another kind, makes the whole batch fail.
type BatchError struct {
	// Failures lists the records that were not written, each at most
	// once. An empty list, an index out of range or an index given twice
	// makes the runtime treat the whole batch as failed and retry it.
	Failures []RecordError
}

func (e *BatchError) Error() string {
	if len(e.Failures) == 0 {
		return "batch failed"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) failed; first at index %d: %v", len(e.Failures), e.Failures[0].Index, e.Failures[0].Err)
	return b.String()
}

// problem returns why e cannot describe the outcome of a batch of n
// records, or "" when every failure names a distinct record of the batch.
func (e *BatchError) problem(n int) string {
	seen := make([]bool, n)
	for _, f := range e.Failures {
		switch {
		case f.Index < 0 || f.Index >= n:
			return fmt.Sprintf("index %d out of range for a batch of %d", f.Index, n)
		case seen[f.Index]:
			return fmt.Sprintf("index %d listed twice", f.Index)
		}
		seen[f.Index] = true
	}
	return ""
}

// Unwrap returns the errors of the failed records, so that errors.Is finds
// ErrFatal in a batch where any record failed fatally.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}
