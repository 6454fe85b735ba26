package stage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorMarksOutermostWins(t *testing.T) {
	base := errors.New("write failed")
	tests := []struct {
		name                        string
		err                         error
		fatal, permanent, redeliver bool
	}{
		{name: "nil", err: nil},
		{name: "unmarked", err: base},
		{name: "fatal", err: Fatal(base), fatal: true},
		{name: "permanent", err: Permanent(base), permanent: true},
		{name: "redeliver", err: Redeliver(time.Second, base), redeliver: true},
		{name: "wrapped mark", err: fmt.Errorf("insert: %w", Permanent(base)), permanent: true},
		{name: "permanent over fatal", err: Permanent(Fatal(base)), permanent: true},
		{name: "fatal over redeliver", err: fmt.Errorf("x: %w", Fatal(Redeliver(0, base))), fatal: true},
		{name: "redeliver over permanent", err: Redeliver(0, Permanent(base)), redeliver: true},
		{name: "mark inside a join", err: errors.Join(base, Fatal(base))},
		{name: "mark inside a batch error", err: &BatchError{Failed: []Failure{{Index: 0, Err: Permanent(base)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsFatal(tt.err); got != tt.fatal {
				t.Errorf("IsFatal = %v, want %v", got, tt.fatal)
			}
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			if got := IsRedeliver(tt.err); got != tt.redeliver {
				t.Errorf("IsRedeliver = %v, want %v", got, tt.redeliver)
			}
		})
	}
}
