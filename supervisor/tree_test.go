package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDeepTreeStartsAndStopsAsOne(t *testing.T) {
	const depth = 100
	root := New("root")
	parent := root
	for i := 1; i < depth; i++ {
		nested := New(fmt.Sprint("l", i))
		mustAdd(t, parent, Spec{Child: nested})
		parent = nested
	}
	leaf := newScripted("leaf")
	mustAdd(t, parent, Spec{Name: "leaf", Child: leaf})
	r := runInBackground(t, root)

	in := leaf.next(t)
	path := PathFromContext(in.ctx)
	if segments := strings.Split(path, "/"); len(segments) != depth+1 || segments[0] != "root" || segments[depth] != "leaf" {
		t.Errorf("leaf path = %q, want root/l1/.../l%d/leaf", path, depth-1)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if !errors.Is(context.Cause(in.ctx), ErrShutdown) {
		t.Errorf("leaf stopped with cause %v, want ErrShutdown", context.Cause(in.ctx))
	}
}

func TestNestedSupervisorTakesPathFromSpecName(t *testing.T) {
	root := New("root")
	nested := New("pipeline")
	w := newScripted("w")
	mustAdd(t, nested, Spec{Name: "w", Child: w})
	mustAdd(t, root, Spec{Name: "sink", Child: nested})
	r := runInBackground(t, root)

	if got := PathFromContext(w.next(t).ctx); got != "root/sink/w" {
		t.Errorf("path = %q, want root/sink/w", got)
	}
	infos := nested.Children()
	if len(infos) != 1 || infos[0].Path != "root/sink/w" || infos[0].State != ChildRunning {
		t.Errorf("nested.Children() = %+v, want w running at root/sink/w", infos)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestChildContextCarriesParentValues(t *testing.T) {
	type key struct{}
	s := New("root")
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	in := c.next(t)
	if got := in.ctx.Value(key{}); got != "v" {
		t.Errorf("child context value = %v, want v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestPathFromContextOutsideTreeIsEmpty(t *testing.T) {
	if got := PathFromContext(context.Background()); got != "" {
		t.Errorf("PathFromContext(Background) = %q, want empty", got)
	}
}
