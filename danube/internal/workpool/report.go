package workpool

import (
	"reflect"
	"runtime"
)

// runReport calls report. Its frame marks the goroutine as running a
// report. Go gives goroutines no identity, so Close and Wait look for this
// frame on their caller's stack (inReport). They skip waiting for the
// report they are called from, which cannot return before they do.
//
//go:noinline
func runReport(report func()) { report() }

// runReportName is the symbol name of runReport as stack frames show it.
var runReportName = runtime.FuncForPC(reflect.ValueOf(runReport).Pointer()).Name()

// inReport reports whether the calling goroutine is running a report of
// any Pool. The cost is one stack walk, paid by Close and Wait only.
func inReport() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(2, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		frame, more := frames.Next()
		if frame.Function == runReportName {
			return true
		}
		if !more {
			return false
		}
	}
}
