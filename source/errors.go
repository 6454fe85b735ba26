package source

import "errors"

var (
	// ErrFatal marks an error from a connector after which the Run cannot
	// go on, and that a new Run would meet again: bad credentials, an
	// input that is gone or was truncated. Mark errors with Fatal and test
	// for the mark with errors.Is(err, ErrFatal). A supervisor should not
	// restart a Run that failed with it: danube-source-jsonl exits with
	// status 1 at the first one, without a restart.
	ErrFatal = errors.New("fatal")

	// ErrUnpublished is wrapped by the error of a Run that stopped because
	// a record could not be published: its send failed with an error that
	// retrying cannot cure, or failed Options.MaxRetries+1 times. It is
	// also wrapped by the error of a Run whose drain ended before it
	// published every record it took. The checkpoint was not committed
	// past such a record, so the next Run publishes it again.
	ErrUnpublished = errors.New("record not published")

	// ErrStopped is wrapped by the error that a Streamer's emit function
	// returns once the runtime takes no more records, because it is
	// draining or has failed.
	ErrStopped = errors.New("source runtime stopped taking records")

	// ErrForced is wrapped by the error of a Run that Force cut short.
	ErrForced = errors.New("source runtime forced to stop")

	// ErrAlreadyRunning is returned by Run while another Run of the same
	// Runtime has not returned.
	ErrAlreadyRunning = errors.New("source runtime already running")

	// ErrNotRunning is returned by Health while no Run has opened the
	// connector.
	ErrNotRunning = errors.New("source runtime not running")
)

// Fatal marks err as fatal (see ErrFatal). It returns nil for a nil err.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err: err}
}

type fatalError struct{ err error }

func (e *fatalError) Error() string   { return e.err.Error() }
func (e *fatalError) Unwrap() []error { return []error{ErrFatal, e.err} }
