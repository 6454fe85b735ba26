package danube

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is the error every broker-facing method of this package returns.
// It records the operation, the topic (or partition) it addressed, and the
// gRPC status code that classifies it; Err is the underlying cause.
//
// Classify an Error with errors.Is against the sentinels below (which
// compare codes, never message text) or with IsRetryable. The broker's
// status message is kept in Err for people to read; it is free text and not
// meant to be parsed.
type Error struct {
	// Op is the operation that failed, for example "send" or "subscribe".
	Op string
	// Topic is the topic or partition the operation addressed, or "".
	Topic string
	// Code is the gRPC status code of the failure. Local failures use the
	// code that best describes them: InvalidArgument for bad input,
	// Canceled or DeadlineExceeded when the caller's context ended.
	Code codes.Code
	// Err is the cause: a gRPC status error, a context error, or a local
	// error.
	Err error
}

// Error formats the error as "danube: op topic: cause".
func (e *Error) Error() string {
	if e.Topic == "" {
		return fmt.Sprintf("danube: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("danube: %s %s: %v", e.Op, e.Topic, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel for e's code, so that
// errors.Is(err, ErrNotFound) holds for every NOT_FOUND from the broker.
func (e *Error) Is(target error) bool {
	var c *codeError
	if errors.As(target, &c) && c.sentinel {
		return c.code == e.Code
	}
	return false
}

// GRPCStatus returns a status with e's code and message, so that
// status.Code(err) works on errors of this package.
func (e *Error) GRPCStatus() *status.Status {
	return status.New(e.Code, e.Error())
}

// codeError is a sentinel that stands for one gRPC code.
type codeError struct {
	code     codes.Code
	msg      string
	sentinel bool
}

func (c *codeError) Error() string { return c.msg }

func sentinel(code codes.Code, msg string) error {
	return &codeError{code: code, msg: msg, sentinel: true}
}

// Sentinels, one for each gRPC code the broker uses. errors.Is(err, s)
// holds when err is an *Error whose Code is the code of s.
var (
	ErrNotFound           = sentinel(codes.NotFound, "not found")
	ErrPermissionDenied   = sentinel(codes.PermissionDenied, "permission denied")
	ErrUnavailable        = sentinel(codes.Unavailable, "unavailable")
	ErrDeadlineExceeded   = sentinel(codes.DeadlineExceeded, "deadline exceeded")
	ErrResourceExhausted  = sentinel(codes.ResourceExhausted, "resource exhausted")
	ErrInvalidArgument    = sentinel(codes.InvalidArgument, "invalid argument")
	ErrAlreadyExists      = sentinel(codes.AlreadyExists, "already exists")
	ErrFailedPrecondition = sentinel(codes.FailedPrecondition, "failed precondition")
	ErrUnauthenticated    = sentinel(codes.Unauthenticated, "unauthenticated")
	ErrInternal           = sentinel(codes.Internal, "internal")
	ErrCanceled           = sentinel(codes.Canceled, "canceled")
)

// Local errors. They are wrapped in an *Error (with the code given in
// brackets) and matched with errors.Is.
var (
	// ErrClosed is returned by every method of a Client, Producer, Consumer
	// or Admin after its Close was called (Canceled).
	ErrClosed = errors.New("closed")
	// ErrInvalidTopic is returned for a topic name that breaks the naming
	// rules; the message names the rule (InvalidArgument).
	ErrInvalidTopic = errors.New("invalid topic name")
	// ErrNoPartitions is returned by NewConsumer when the broker knows no
	// topic or partition of that name (NotFound).
	ErrNoPartitions = errors.New("no topic or partitions found")
	// ErrUnknownPartition is returned by Ack and Nack for a message whose
	// ID names a partition this consumer is not subscribed to
	// (InvalidArgument).
	ErrUnknownPartition = errors.New("message is from a partition this consumer does not read")
	// ErrNotReceived is returned by Ack and Nack for a message of one of
	// this consumer's partitions that this consumer did not return from
	// Receive: received by another Consumer, or built by hand
	// (InvalidArgument). Acknowledging it would settle it for this
	// consumer's subscription without its having been processed.
	ErrNotReceived = errors.New("message was not received by this consumer")
	// ErrLookupFailed is returned when a topic lookup answers with the
	// Failed response type (Unavailable, so it is retried).
	ErrLookupFailed = errors.New("topic lookup failed")
	// ErrRejected is returned when an admin or schema call completed but
	// the broker reported success=false (Unknown).
	ErrRejected = errors.New("broker reported failure")
	// ErrMessageTooLarge is returned when a message exceeds a gRPC size
	// limit (OutOfRange): by Send when the broker rejected the request as
	// larger than its gRPC server accepts, and by Receive when the broker
	// delivered a message larger than WithMaxReceiveMessageSize allows,
	// which stops the partition. Neither is retried: the same message
	// would fail the same way.
	ErrMessageTooLarge = errors.New("message too large")
)

// errHealthClose is the cause with which a consumer's stream is cancelled
// when the broker's health check replied CLOSE; the consumer then
// subscribes again.
var errHealthClose = errors.New("broker asked the consumer to close")

// IsRetryable reports whether err is a failure that a later attempt may not
// meet: UNAVAILABLE, DEADLINE_EXCEEDED of a single attempt, and
// RESOURCE_EXHAUSTED. An error caused by the caller's own context ending is
// not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retryableCode(codeOf(err))
}

func retryableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}

// codeOf returns the gRPC code of err: the Code of an *Error, the code of a
// status error, Canceled or DeadlineExceeded for context errors, Unknown
// otherwise.
func codeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

// newError wraps a failure of op on topic into an *Error, taking the code
// from err. A nil err gives nil.
func newError(op, topic string, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) && de.Op == op && de.Topic == topic {
		return err
	}
	return &Error{Op: op, Topic: topic, Code: codeOf(err), Err: err}
}

// localError builds an *Error for a failure detected on the client.
func localError(op, topic string, code codes.Code, err error) error {
	return &Error{Op: op, Topic: topic, Code: code, Err: err}
}

// closedError is the error of any call on a closed object.
func closedError(op, topic string) error {
	return localError(op, topic, codes.Canceled, ErrClosed)
}

// contextError is the error returned when the caller's context ended while
// an operation was being retried: the context's error and its cause when
// one was set, with the last failure for diagnosis. The code is
// DeadlineExceeded when either of them is a deadline (a timeout with a
// cause of its own, or a cancellation whose cause is a deadline), else
// Canceled.
func contextError(ctx context.Context, op, topic string, last error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		ctxErr = context.Canceled // not expected: callers see ctx done first
	}
	err, cause := ctxErr, context.Cause(ctx)
	if cause != nil && cause != ctxErr {
		err = fmt.Errorf("%w: %w", ctxErr, cause)
	}
	code := codes.Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	if last != nil {
		err = fmt.Errorf("%w (last error: %v)", err, last)
	}
	return localError(op, topic, code, err)
}
