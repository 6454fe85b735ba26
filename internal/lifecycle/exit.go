package lifecycle

import (
	"errors"
	"syscall"

	"github.com/danube-messaging/danube-connect-go/internal/config"
)

// Exit statuses of a connector binary, as ExitCode returns them.
const (
	// ExitOK follows a clean stop: everything received was settled.
	ExitOK = 0
	// ExitFailure follows a failure of the service, or a drain that
	// missed its deadline.
	ExitFailure = 1
	// ExitInvalidConfig follows a configuration that did not load.
	ExitInvalidConfig = 2
)

// ExitCode returns the exit status for the result of RunWithSignals or of
// loading the configuration. It is ExitOK for nil and ExitInvalidConfig
// for an error matching config.ErrInvalid. After a second signal forced
// the stop it is 128 plus the signal's number (130 for SIGINT, 143 for
// SIGTERM), as a shell reports a process killed by that signal. Any other
// error gives ExitFailure.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, config.ErrInvalid) {
		return ExitInvalidConfig
	}
	var forced *ForcedError
	if errors.As(err, &forced) {
		if sig, ok := forced.Signal.(syscall.Signal); ok {
			return 128 + int(sig)
		}
	}
	return ExitFailure
}
