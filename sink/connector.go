package sink

import "context"

// Connector is what a sink implements to receive messages from Danube. The
// runtime calls its methods from one goroutine at a time.
type Connector interface {
	// Open is called once before the first Write, and again after the
	// runtime restarted the connector following a failure. An error stops
	// the start; mark it with Retryable to have the supervisor try again.
	Open(ctx context.Context) error

	// Write writes a batch of records in the order given. It returns nil
	// when every record was written, a *BatchError naming the records that
	// failed when only some did, or another error to fail the whole batch.
	// Errors carry their class (see ErrRetryable, ErrInvalidData and
	// ErrFatal). The runtime acks a record only after Write reported it
	// written. Write must return when ctx is done.
	Write(ctx context.Context, batch []*Record) error

	// Close releases the connector's resources. It is called once, after
	// the last Write has returned.
	Close(ctx context.Context) error

	// Health reports whether the connector can write now. The runtime calls
	// it for the readiness check; it should be cheap, such as a ping.
	Health(ctx context.Context) error
}
