// Package supervisor runs goroutines as supervision trees in the manner of
// Erlang/OTP. A supervisor starts its children and restarts those that fail
// according to a strategy and a restart policy, waiting a growing backoff
// delay between restarts. It gives up and fails to its own parent when
// restarts come too often, and it stops its children in reverse start
// order when its context is cancelled.
//
// A child is anything with a Run(ctx) error method; ChildFunc adapts a
// function. A *Supervisor is a child too, so trees nest to any depth, and
// every child has a path such as "root/sink/write" that events and errors
// name. A child learns its path with PathFromContext.
//
// The pieces:
//
//   - Strategy: OneForOne restarts the failed child, OneForAll restarts all
//     children, RestForOne restarts the failed child and those started
//     after it (a pipeline whose later stages depend on earlier ones).
//   - Restart policy per child (Spec.Restart): Permanent children always
//     come back, Transient ones only after a failure, Temporary ones never.
//   - Backoff per child: exponential with jitter and a cap, reset once the
//     child has run long enough. The intensity limit (WithIntensity) sits
//     on top: more restarts than allowed within a period and the supervisor
//     stops its children and returns an *IntensityError to its parent.
//   - A panic in a child is recovered into a *PanicError with the panic
//     value and stack, and handled as a failure (WithPanicPassThrough turns
//     that off). A child whose own context is still live is failing even
//     when its error wraps context.Canceled; only a child whose context the
//     supervisor cancelled has stopped.
//   - Shutdown: children stop one at a time, last started first, each
//     within its shutdown timeout; one that does not return in time is
//     reported and left behind, so a supervisor always returns.
//   - Events (ChildStarted, ChildFailed, ChildRestarting, GaveUp, ...) go to
//     hooks through a bounded queue that never holds up the supervisor;
//     SlogHook logs them.
//   - Time comes from an injectable clock, so tests of backoff and
//     intensity run without sleeping.
//
// A minimal tree:
//
//	root := supervisor.New("root", supervisor.WithHook(supervisor.SlogHook(nil)))
//	pipeline := supervisor.New("pipeline", supervisor.WithStrategy(supervisor.RestForOne))
//	_ = pipeline.Add(supervisor.Spec{Name: "consume", Child: consumer})
//	_ = pipeline.Add(supervisor.Spec{Name: "write", Child: writer})
//	_ = root.Add(supervisor.Spec{Child: pipeline}) // path "root/pipeline"
//	err := root.Run(ctx) // until ctx is done, or the tree gives up
package supervisor
