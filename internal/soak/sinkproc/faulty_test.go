package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// recorder is a connector that records what it was given to write.
type recorder struct {
	written int
	calls   int
}

func (r *recorder) Open(context.Context) error   { return nil }
func (r *recorder) Close(context.Context) error  { return nil }
func (r *recorder) Health(context.Context) error { return nil }
func (r *recorder) Write(_ context.Context, batch []*sink.Record) error {
	r.calls++
	r.written += len(batch)
	return nil
}

func records(n int) []*sink.Record {
	out := make([]*sink.Record, n)
	for i := range out {
		out[i] = &sink.Record{Offset: uint64(i)}
	}
	return out
}

func TestFaultyFailsItsShareOfWrites(t *testing.T) {
	inner := &recorder{}
	var events bytes.Buffer
	f := newFaulty(inner, 0.5, 7, &events)

	const writes = 2000
	failed := 0
	for range writes {
		err := f.Write(context.Background(), records(4))
		if err == nil {
			continue
		}
		failed++
		if !errors.Is(err, sink.ErrRetryable) || !errors.Is(err, errInjected) {
			t.Fatalf("Write = %v, want an injected failure marked retryable", err)
		}
	}

	if failed < writes*40/100 || failed > writes*60/100 {
		t.Errorf("%d of %d writes failed, want about half", failed, writes)
	}
	before := strings.Count(events.String(), eventFailBefore)
	after := strings.Count(events.String(), eventFailAfter)
	if before+after != failed {
		t.Errorf("%d failures reported (%d before, %d after the write), want %d", before+after, before, after, failed)
	}
	if before == 0 || after == 0 {
		t.Errorf("failures before the write %d, after %d: want both kinds", before, after)
	}
	// A failure after the write reaches the wrapped connector; one before
	// it does not.
	if want := writes - before; inner.calls != want {
		t.Errorf("the wrapped connector got %d writes, want %d", inner.calls, want)
	}
}

func TestFaultyWithoutFailuresPassesEveryWrite(t *testing.T) {
	inner := &recorder{}
	var events bytes.Buffer
	f := newFaulty(inner, 0, 1, &events)

	for range 100 {
		if err := f.Write(context.Background(), records(3)); err != nil {
			t.Fatalf("Write = %v, want nil", err)
		}
	}
	if inner.written != 300 {
		t.Errorf("the wrapped connector wrote %d records, want 300", inner.written)
	}
	if events.Len() != 0 {
		t.Errorf("events %q, want none", events.String())
	}
}

func TestFaultyArmedPanicWritesHalfTheBatch(t *testing.T) {
	inner := &recorder{}
	var events bytes.Buffer
	f := newFaulty(inner, 0, 1, &events)
	f.armPanic()

	recovered := func() (v any) {
		defer func() { v = recover() }()
		_ = f.Write(context.Background(), records(10))
		return nil
	}()

	if recovered == nil {
		t.Fatal("Write did not panic after armPanic")
	}
	if inner.written != 5 {
		t.Errorf("the wrapped connector wrote %d records before the panic, want 5", inner.written)
	}
	if !strings.Contains(events.String(), eventPrefix+" fault "+eventPanic+" 10") {
		t.Errorf("events %q, want a panic line for a batch of 10", events.String())
	}
	if err := f.Write(context.Background(), records(2)); err != nil {
		t.Errorf("the Write after the panic = %v, want nil: a panic is armed for one Write", err)
	}
}

func TestFaultSettingsRejectInvalidValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"rate not a number", map[string]string{envFailureRate: "often"}},
		{"rate above one", map[string]string{envFailureRate: "1.5"}},
		{"negative rate", map[string]string{envFailureRate: "-0.1"}},
		{"negative seed", map[string]string{envSeed: "-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if _, _, err := faultSettings(lookup); err == nil {
				t.Errorf("faultSettings(%v) = nil error, want one", tt.env)
			}
		})
	}

	rate, seed, err := faultSettings(func(k string) (string, bool) {
		return map[string]string{envFailureRate: "0.1", envSeed: "42"}[k], true
	})
	if err != nil || rate != 0.1 || seed != 42 {
		t.Errorf("faultSettings = %v, %v, %v; want 0.1, 42, nil", rate, seed, err)
	}
}
