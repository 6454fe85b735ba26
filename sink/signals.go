package sink

import (
	"context"

	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
)

// RunWithSignals runs the sink as the main work of a process: Run until
// SIGTERM or SIGINT, then a drain within Config.DrainTimeout. A second
// signal calls Force and returns once Run has, within a few seconds; so
// does a drain that overruns its deadline. It returns nil after a clean drain, and otherwise an error for
// ExitCode. Signals are caught only while it runs.
func (rt *Runtime) RunWithSignals(ctx context.Context) error {
	return lifecycle.RunWithSignals(ctx, rt, lifecycle.Options{
		// Run bounds its own drain; the deadline here is a backstop for
		// a connector that ignores its context.
		DrainTimeout: rt.cfg.DrainTimeout + settleGrace,
		Logger:       rt.log,
	})
}

// ExitCode returns the exit status for the result of RunWithSignals or of
// LoadConfig: 0 for nil, 2 for an invalid configuration, 128 plus the
// signal's number when a second signal forced the stop (143 for SIGTERM,
// 130 for SIGINT), and 1 for any other error.
func ExitCode(err error) int { return lifecycle.ExitCode(err) }
