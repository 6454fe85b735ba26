package source

import "context"

// Connector is the part of a source connector that every mode shares: the
// calls that start it, persist its position, stop it and check it. A
// connector also implements Poller or Streamer, which decides its mode.
//
// Concurrency: the runtime calls Open, then Poll or Stream, Commit and
// Health, then Close. Open and Close are never concurrent with any other
// call. Commit may run concurrently with Poll or Stream, but never with
// another Commit. Health may run concurrently with any call but Open and
// Close.
type Connector interface {
	// Open prepares the connector to read from checkpoint: the position of
	// the last record that was published and committed, or nil to start
	// from the beginning of the input. The runtime calls Open at the start
	// of every Run, so after a restart the connector reads again from the
	// last commit and the records published after it come again: delivery
	// is at least once. An error ends the Run before anything is read.
	Open(ctx context.Context, checkpoint Checkpoint) error

	// Commit persists checkpoint, the Position of a record that the broker
	// has acknowledged together with every record before it. The runtime
	// calls it at Options.CheckpointInterval, every Options.CheckpointEvery
	// records, and once at the end of a Run, and only when the checkpoint
	// has moved since the last successful Commit. A failed Commit is
	// retried at the next occasion, so the committed position is at worst
	// older than it could be. An error marked with Fatal stops the Run, and
	// so does a panic, which the runtime recovers.
	Commit(ctx context.Context, checkpoint Checkpoint) error

	// Close releases what Open acquired. The runtime calls it once at the
	// end of every Run whose Open succeeded, after the last Commit.
	Close(ctx context.Context) error

	// Health reports whether the connector can read from its input now,
	// for readiness checks. It should be cheap.
	Health(ctx context.Context) error
}

// Poller is a connector in poll mode: the runtime calls Poll for records.
type Poller interface {
	Connector

	// Poll returns the records available now, in input order, or none.
	// When Poll returns records, the runtime calls it again as soon as it
	// has taken them; when it returns none, the runtime waits
	// Options.PollInterval first. Poll should not block for long when
	// nothing is available, and must return once ctx is done, which
	// happens when the runtime begins to drain.
	//
	// Poll returns io.EOF, with or without records, when the input is
	// exhausted: the runtime publishes what it has, commits, and Run
	// returns nil. An error marked with Fatal stops the Run at once. After
	// any other error the runtime calls Poll again, waiting
	// Options.RetryBackoff, doubled for each failure in a row, up to
	// Options.MaxRetries times; the next failure stops the Run. Records
	// returned with an error are kept.
	Poll(ctx context.Context) ([]Record, error)
}

// Streamer is a connector in streaming mode: it pushes records to the
// runtime as they come.
type Streamer interface {
	Connector

	// Stream reads the input and hands each record to emit, in input
	// order, until ctx is done or the input is exhausted. emit blocks while
	// the runtime has no room (backpressure) and returns nil once the
	// runtime has taken the record. It returns an error wrapping
	// ErrStopped once the runtime stops taking records; Stream should then
	// return. emit may be called from one goroutine at a time.
	//
	// Stream returns nil when the input is exhausted: the runtime
	// publishes what it has, commits, and Run returns nil. It must return
	// once ctx is done; what it returns then is ignored. Any other error
	// stops the Run, and the supervisor above the runtime decides whether
	// to run it again (from the last commit).
	Stream(ctx context.Context, emit func(Record) error) error
}

// Resumer is implemented by a connector that stores its checkpoints
// itself and can read the last one back, so that a new process resumes
// where the previous one committed. The runtime calls LastCheckpoint once,
// before its first Open; later Opens get the last checkpoint the runtime
// committed. Without a Resumer the first Open gets nil.
type Resumer interface {
	// LastCheckpoint returns the checkpoint last persisted by Commit, or
	// nil when there is none.
	LastCheckpoint(ctx context.Context) (Checkpoint, error)
}
