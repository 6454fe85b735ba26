package otel

import (
	"context"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// SupervisorHook returns a hook for supervisor.WithHook that counts, per
// child path, the restarts, failures and panics of children and the
// supervisors that gave up, and the events the hooks missed.
//
// A restart is counted when a child starts again (ChildStarted with
// Restarts above 0), so siblings that a one-for-all or rest-for-one
// strategy restarts count too, and a restart that shutdown cancelled
// during its backoff does not. A panic counts in panics only, not in
// failures. Give the hook to the root supervisor: hooks receive the events
// of nested supervisors as well, so a pipeline running under the root
// needs it in its own stage.Options.Supervisor only when it runs alone.
//
// The hook runs on the supervisor's event goroutine, never on a hot path.
// The first event of a path allocates its attribute set, later ones
// nothing.
func (in *Instrumentation) SupervisorHook() func(supervisor.Event) {
	return func(e supervisor.Event) {
		if in == nil || !in.metering {
			return
		}
		ctx := context.Background()
		switch e := e.(type) {
		case supervisor.ChildStarted:
			if e.Restarts > 0 {
				in.restarts.Add(ctx, 1, in.pathAttrs(e.ChildPath).add...)
			}
		case supervisor.ChildFailed:
			in.failures.Add(ctx, 1, in.pathAttrs(e.ChildPath).add...)
		case supervisor.ChildPanicked:
			in.panics.Add(ctx, 1, in.pathAttrs(e.ChildPath).add...)
		case supervisor.GaveUp:
			in.giveUps.Add(ctx, 1, in.pathAttrs(e.ChildPath).add...)
		case supervisor.EventsDropped:
			in.eventsDropped.Add(ctx, int64(e.Count), in.pathAttrs(e.ChildPath).add...)
		}
	}
}

// pathAttrs returns the measurement option of a child path.
func (in *Instrumentation) pathAttrs(path string) attrOpts {
	if o, ok := in.paths.Load(path); ok {
		return o.(attrOpts)
	}
	o, _ := in.paths.LoadOrStore(path, in.with(AttrChildPath.String(path)))
	return o.(attrOpts)
}
