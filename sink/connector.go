package sink

import "context"

// Connector is what a sink implements to receive messages from Danube:
// the runtime consumes, batches, retries, dead-letters and acknowledges,
// and the connector only writes.
//
// The runtime calls Open, Write and Close one at a time, even when it
// consumes several routes, so a connector needs no lock of its own. The
// batches of different routes are written one after the other. A
// connector whose Write is safe for concurrent use implements
// ConcurrentWriter to have the routes write in parallel. Health may be
// called at any time, concurrently with the others.
type Connector interface {
	// Open is called before the first Write, and again after the runtime
	// restarted the connector following a failure: a fatal error from
	// Write or Open. An error fails the start; the runtime's supervisor
	// calls Open again after a backoff delay, until its restart intensity
	// is exceeded.
	Open(ctx context.Context) error

	// Write writes a batch of records, all from one route and in the order
	// they were published on their partition. It returns nil when every
	// record was written, a *BatchError naming the records that failed
	// when only some did, or another error to fail the whole batch.
	//
	// Errors carry their class (see ErrRetryable, ErrInvalidData and
	// ErrFatal). Retryable records are written again after a backoff
	// delay, together with the other failed records of the batch but never
	// with those already written. Invalid ones go to the dead-letter topic.
	// A fatal error closes and reopens the connector. The runtime acks a
	// record only after Write reported it written.
	//
	// Write must return when ctx is done, which happens when the runtime
	// is forced to stop. It must not modify the records, and may keep
	// them after it returns. A record may have been written before, by a
	// Write whose outcome was lost: see Record for writing idempotently.
	Write(ctx context.Context, batch []*Record) error

	// Close releases the connector's resources. It is called once after
	// each successful Open, once the last Write of that opening has
	// returned, with a context that bounds it.
	Close(ctx context.Context) error

	// Health reports whether the connector can write now, for the
	// readiness check. It should be cheap, such as a ping, and return
	// when ctx is done.
	Health(ctx context.Context) error
}

// ConcurrentWriter is implemented by a Connector whose Write may run for
// several routes at once. When ConcurrentWrites returns true, each route
// calls Write from its own goroutine as soon as it has a batch. The
// batches of one route still come one at a time and in order, and Close
// still waits for every Write to return.
type ConcurrentWriter interface {
	Connector
	// ConcurrentWrites reports whether Write may run for several routes
	// at once. It is called once, when the runtime is built. False keeps
	// one Write at a time across the routes, as for a plain Connector.
	ConcurrentWrites() bool
}
