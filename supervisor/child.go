package supervisor

import (
	"context"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Child is a unit of work that a supervisor runs and restarts.
//
// Run is called in a goroutine of its own and must return once ctx is done:
// the supervisor cancels ctx to stop the child and then waits up to the
// child's shutdown timeout. Whether Run is called again after it returns
// depends on the child's Restart policy and on what it returned: nil is a
// normal exit, an error is a failure, and a panic is a failure too (see
// PanicError). An error returned after ctx is done is never a failure,
// whatever it wraps, while an error wrapping context.Canceled returned
// while ctx is still live is one: only the child's own context decides that
// the child was stopped.
//
// Run may be called many times on the same value. A supervisor calls it
// again only after the previous call returned, except when that call was
// left behind because it outlived its shutdown timeout (see
// Spec.ShutdownTimeout). A *Supervisor is itself a Child, so trees nest to
// any depth.
type Child interface {
	Run(ctx context.Context) error
}

// ChildFunc adapts a function to the Child interface.
type ChildFunc func(ctx context.Context) error

// Run calls f(ctx).
func (f ChildFunc) Run(ctx context.Context) error { return f(ctx) }

// scope is what a supervisor tells each of its children through the
// context: where the child sits in the tree, where events go, and which
// clock the tree uses. A nested supervisor takes its path, its parent's
// event sink and, unless it has its own, its parent's clock from it.
type scope struct {
	path  string
	emit  func(Event)
	clock clock.Clock
}

type scopeKey struct{}

func withScope(ctx context.Context, sc *scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

func scopeFrom(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

// PathFromContext returns the path in the supervision tree of the child
// whose context ctx is, such as "root/sink/write", and "" when ctx does not
// come from a supervisor. Children use it to label their logs and metrics.
func PathFromContext(ctx context.Context) string {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.path
	}
	return ""
}
