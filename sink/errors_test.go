package sink

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassOfFindsWrappedClass(t *testing.T) {
	base := errors.New("duplicate key")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"unclassified", base, ErrRetryable},
		{"retryable", Retryable(base), ErrRetryable},
		{"invalid data", InvalidData(base), ErrInvalidData},
		{"fatal", Fatal(base), ErrFatal},
		{"wrapped invalid data", fmt.Errorf("write: %w", InvalidData(base)), ErrInvalidData},
		{"batch with a fatal record", &BatchError{Failures: []RecordError{{0, InvalidData(base)}, {3, Fatal(base)}}}, ErrFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifiedKeepsCause(t *testing.T) {
	base := errors.New("connection reset")
	err := Retryable(base)
	if !errors.Is(err, base) {
		t.Error("errors.Is(Retryable(base), base) = false")
	}
	if err.Error() != "connection reset" {
		t.Errorf("Error() = %q", err.Error())
	}
	if Retryable(nil) != nil {
		t.Error("Retryable(nil) != nil")
	}
}
