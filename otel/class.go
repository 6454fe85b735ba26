package otel

import (
	"errors"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// ErrorClass is the class of a failure, the value of the attribute
// error.type on the failure metrics. The set is closed, so that a failure
// metric has three series per stage at most and never one per error text.
type ErrorClass string

// The error classes.
const (
	// ClassRetryable is a failure that may pass: the message is written
	// again or redelivered.
	ClassRetryable ErrorClass = "retryable"
	// ClassInvalidData is a failure of the message itself, which no retry
	// cures: the message is dead-lettered.
	ClassInvalidData ErrorClass = "invalid_data"
	// ClassFatal is a failure of the stage rather than of the message: the
	// stage stops and its supervisor restarts it.
	ClassFatal ErrorClass = "fatal"
)

// StageClass returns the class of an error as the stage package treats it:
// ClassFatal for an error marked with stage.Fatal, ClassInvalidData for one
// marked with stage.Permanent, and ClassRetryable otherwise, which covers
// stage.Redeliver and unmarked errors. When marks are nested, the outermost
// wins, as in the stages (see stage.IsFatal). It returns "" for a nil err.
func StageClass(err error) ErrorClass {
	switch {
	case err == nil:
		return ""
	case stage.IsFatal(err):
		return ClassFatal
	case stage.IsPermanent(err):
		return ClassInvalidData
	}
	return ClassRetryable
}

// failedCounts returns how many messages of a write attempt of n messages
// failed, by class: for a *stage.BatchError those it lists, each by its
// own error, and otherwise all n by err.
func failedCounts(classify func(error) ErrorClass, n int, err error) (retryable, invalid, fatal int) {
	add := func(c ErrorClass, k int) {
		switch c {
		case ClassFatal:
			fatal += k
		case ClassInvalidData:
			invalid += k
		default:
			retryable += k
		}
	}

	var be *stage.BatchError
	if errors.As(err, &be) && len(be.Failed) > 0 {
		for _, f := range be.Failed {
			add(classify(f.Err), 1)
		}
		return retryable, invalid, fatal
	}
	add(classify(err), n)
	return retryable, invalid, fatal
}
