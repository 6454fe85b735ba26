package supervisor

import (
	"testing"
)

func TestOneForOneRestartsOnlyFailedChild(t *testing.T) {
	s := New("root", WithBackoff(noBackoff))
	a, b := newScripted("a"), newScripted("b")
	mustAdd(t, s, Spec{Name: "a", Child: a})
	mustAdd(t, s, Spec{Name: "b", Child: b})
	r := runInBackground(t, s)

	a1, b1 := a.next(t), b.next(t)
	a1.fail(t, errBoom)
	a2 := a.next(t)

	if err := a1.wait(t); err != errBoom {
		t.Errorf("first instance of a returned %v, want %v", err, errBoom)
	}
	if b1.ctx.Err() != nil {
		t.Errorf("b's context is done (%v), want b untouched", b1.ctx.Err())
	}
	b.idle(t)
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if a2.ctx.Err() == nil || b1.ctx.Err() == nil {
		t.Error("children still running after Run returned")
	}
}

func mustAdd(t testing.TB, s *Supervisor, spec Spec) {
	t.Helper()
	if err := s.Add(spec); err != nil {
		t.Fatalf("Add(%q): %v", spec.Name, err)
	}
}
