package main

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

// helperTB lets the program call, outside a test, the repository's test
// helpers that take a testing.TB: package mongotest for the embedded
// MongoDB server and package testdata for the sample documents. Fatal and
// Skip end the helper's call instead of a test, and callHelper returns
// their message as an error.
//
// Only the methods those helpers use are defined. The embedded TB is nil,
// so a helper that comes to call any other method panics, and callHelper
// reports that as an error too rather than crashing the run.
type helperTB struct {
	testing.TB
	name     string
	cleanups []func()
}

// helperStop carries the message of a Fatal or Skip out of the helper.
type helperStop struct{ msg string }

func (h *helperTB) Helper()      {}
func (h *helperTB) Name() string { return h.name }

func (h *helperTB) Fatal(args ...any) { panic(helperStop{fmt.Sprint(args...)}) }
func (h *helperTB) Fatalf(format string, args ...any) {
	panic(helperStop{fmt.Sprintf(format, args...)})
}
func (h *helperTB) Skip(args ...any) { panic(helperStop{fmt.Sprint(args...)}) }
func (h *helperTB) Skipf(format string, args ...any) {
	panic(helperStop{fmt.Sprintf(format, args...)})
}

func (h *helperTB) Log(args ...any) { slog.Info(fmt.Sprint(args...), "helper", h.name) }
func (h *helperTB) Logf(format string, args ...any) {
	slog.Info(fmt.Sprintf(format, args...), "helper", h.name)
}

// Cleanup registers f to run when the program ends its use of the
// helper's result; see callHelper.
func (h *helperTB) Cleanup(f func()) { h.cleanups = append(h.cleanups, f) }

// callHelper calls fn with a helperTB named name and returns the message
// of a Fatal or Skip as an error, and a function that runs the cleanups
// fn registered, last first. The caller runs it when it no longer needs
// what fn returned.
func callHelper(name string, fn func(tb testing.TB)) (cleanup func(), err error) {
	h := &helperTB{name: name}
	cleanup = func() {
		for i := len(h.cleanups) - 1; i >= 0; i-- {
			h.cleanups[i]()
		}
	}
	defer func() {
		switch r := recover().(type) {
		case nil:
		case helperStop:
			err = errors.New(r.msg)
		default:
			err = fmt.Errorf("%s: the test helper failed outside a test: %v", name, r)
		}
	}()
	fn(h)
	return cleanup, nil
}
