package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// errInjected is the cause of every write failure the faulty connector
// makes up.
var errInjected = errors.New("injected transient write failure")

// Fault kinds, as the event lines on standard output name them.
const (
	// eventFailBefore is a batch failed as retryable without writing it.
	eventFailBefore = "fail-before-write"
	// eventFailAfter is a batch written and then failed as retryable, as
	// when the server's reply is lost: every record of it is written again.
	eventFailAfter = "fail-after-write"
	// eventPanic is a Write that wrote the first half of its batch and
	// then panicked.
	eventPanic = "panic"
)

// slowThreshold is the duration from which a Write, or a command that the
// MongoDB driver sends, is reported as slow.
const slowThreshold = time.Second

// eventPrefix starts every line the faulty connector and the program
// write to standard output for the soak test to read.
const eventPrefix = "soak:"

// faulty wraps a sink connector and makes its writes fail. A share of the
// Write calls, failureRate, fails as retryable: half of them before the
// batch reaches the wrapped connector, half after it was written. After
// armPanic, the next Write writes the first half of its batch and panics,
// so that the runtime gets a stage panic in the middle of a batch. Each
// fault is reported as one line on events.
type faulty struct {
	next        sink.Connector
	failureRate float64

	armed atomic.Bool

	mu     sync.Mutex
	rng    *rand.Rand
	events io.Writer
}

// newFaulty returns next wrapped, failing failureRate of the writes, with
// the choices drawn from a generator seeded with seed.
func newFaulty(next sink.Connector, failureRate float64, seed uint64, events io.Writer) *faulty {
	return &faulty{
		next:        next,
		failureRate: failureRate,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		events:      events,
	}
}

// armPanic makes the next Write panic halfway through its batch.
func (f *faulty) armPanic() { f.armed.Store(true) }

// Open opens the wrapped connector.
func (f *faulty) Open(ctx context.Context) error { return f.next.Open(ctx) }

// Close closes the wrapped connector.
func (f *faulty) Close(ctx context.Context) error { return f.next.Close(ctx) }

// Health reports the wrapped connector's health.
func (f *faulty) Health(ctx context.Context) error { return f.next.Health(ctx) }

// ConcurrentWrites reports whether the wrapped connector's Write may run
// for several routes at once; the faulty connector adds no state that
// would prevent it.
func (f *faulty) ConcurrentWrites() bool {
	cw, ok := f.next.(sink.ConcurrentWriter)
	return ok && cw.ConcurrentWrites()
}

// Write writes batch through the wrapped connector, or fails it, or
// panics, as described on faulty.
func (f *faulty) Write(ctx context.Context, batch []*sink.Record) error {
	if len(batch) > 0 && f.armed.CompareAndSwap(true, false) {
		half := len(batch) / 2
		if half > 0 {
			_ = f.next.Write(ctx, batch[:half])
		}
		f.report(eventPanic, len(batch))
		panic(fmt.Sprintf("soak: injected panic after writing %d of %d records", half, len(batch)))
	}

	draw := f.draw()
	if draw < f.failureRate/2 {
		f.report(eventFailBefore, len(batch))
		return sink.Retryable(errInjected)
	}

	start := time.Now()
	err := f.next.Write(ctx, batch)
	if took := time.Since(start); took >= slowThreshold {
		f.reportSlow("write", took, err)
	}
	if err == nil && draw < f.failureRate {
		f.report(eventFailAfter, len(batch))
		return sink.Retryable(errInjected)
	}
	return err
}

// draw returns the next number in [0, 1) of the seeded generator.
func (f *faulty) draw() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64()
}

// report writes one event line: the fault's kind and the size of the
// batch it hit.
func (f *faulty) report(kind string, records int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.events, "%s fault %s %d\n", eventPrefix, kind, records)
}

// reportSlow writes one event line for an operation that took at least
// slowThreshold: its name, its duration in milliseconds, and whether it
// failed.
func (f *faulty) reportSlow(op string, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.events, "%s slow %s %d %s\n", eventPrefix, op, took.Milliseconds(), outcome)
}

// commandMonitor returns a driver monitor that reports every command
// that took at least slowThreshold, such as an insert or the find that
// reads documents back after a duplicate key.
func (f *faulty) commandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if e.Duration >= slowThreshold {
				f.reportSlow(e.CommandName, e.Duration, nil)
			}
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			if e.Duration >= slowThreshold {
				f.reportSlow(e.CommandName, e.Duration, e.Failure)
			}
		},
	}
}
