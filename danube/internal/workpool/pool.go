// Package workpool runs jobs of one type on a bounded set of goroutines.
//
// A job has two parts: a call, which does the work, and an optional
// report, which hands the call's outcome to the pool owner's caller (a
// callback). A Pool bounds how many calls run at once, its size. Submit
// blocks while that many are running, which is the backpressure that keeps
// a fast caller from piling up unbounded work. A report does not count
// against that bound: the call's slot is free before its report starts, so
// a report may submit more jobs, or wait for a slot, without deadlocking
// the pool.
//
// Workers make the calls. They are started on demand, up to the size, and
// then remaining. A job handed to a parked worker costs one channel send and no
// allocation, where a goroutine per job would also pay for stack growth on
// every call deep into gRPC. Workers never run a report, so no callback
// can keep a worker from its next job. Reports run on reporter goroutines,
// one for each report running at once, and up to size of them are remaining
// parked for reuse.
//
// The caller owns the pool: Close stops the goroutines and must be called.
package workpool

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Submit and Run after Close was called.
var ErrClosed = errors.New("workpool: closed")

// Pool runs jobs of type T. Its zero value is not usable: create one with
// New.
type Pool[T any] struct {
	call   func(T) (report bool, err error)
	report func(T, error)
	size   int

	slots   chan struct{}   // one token per running call
	work    chan T          // unbuffered: hands a job to a parked worker
	reports chan outcome[T] // unbuffered: hands a report to a parked reporter
	quit    chan struct{}   // closed by Close

	mu        sync.Mutex
	workers   int
	closed    bool
	active    int // slots taken
	reporting int // reports handed over and not yet returned
	reporters int // reporter goroutines alive
	parked    int // reporters waiting for a report
	waiters   []waiter
	wg        sync.WaitGroup // workers
}

// outcome is a finished call waiting for its report.
type outcome[T any] struct {
	job T
	err error
}

// waiter is a Wait or Close blocked until ready holds. ready is evaluated
// with Pool.mu held.
type waiter struct {
	ready func() bool
	wake  chan struct{}
}

// New returns a pool that makes at most size calls at once, each by
// calling call. When call returns report true, report is then called with
// the job and call's error, on a reporter goroutine, after the job's slot
// is free. A size below 1 is taken as 1. call and report must not panic.
func New[T any](size int, call func(T) (report bool, err error), report func(T, error)) *Pool[T] {
	if size < 1 {
		size = 1
	}
	return &Pool[T]{
		call:    call,
		report:  report,
		size:    size,
		slots:   make(chan struct{}, size),
		work:    make(chan T),
		reports: make(chan outcome[T]),
		quit:    make(chan struct{}),
	}
}

// Size returns the maximum number of calls that run at once.
func (p *Pool[T]) Size() int { return p.size }

// Submit runs job on a worker. It waits while size calls are running, and
// returns ctx's error if ctx ends first, or ErrClosed once Close was
// called; the job then does not run.
func (p *Pool[T]) Submit(ctx context.Context, job T) error {
	if err := p.Acquire(ctx); err != nil {
		return err
	}
	p.dispatch(job)
	return nil
}

// TrySubmit runs job on a worker if a slot is free right now and reports
// whether it did.
func (p *Pool[T]) TrySubmit(job T) bool {
	select {
	case <-p.quit:
		return false
	default:
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return false
	}
	p.taken()
	p.dispatch(job)
	return true
}

// Acquire takes a slot without running a job, for a caller that runs the
// work on its own goroutine and counts against the same bound; it must
// call Release when done.
func (p *Pool[T]) Acquire(ctx context.Context) error {
	select {
	case <-p.quit:
		return ErrClosed
	default:
	}
	select {
	case p.slots <- struct{}{}:
		p.taken()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return ErrClosed
	}
}

// Release returns a slot taken with Acquire.
func (p *Pool[T]) Release() { p.release(false) }

func (p *Pool[T]) taken() {
	p.mu.Lock()
	p.active++
	p.mu.Unlock()
}

// release frees a slot. With report true it counts the job's report as
// running in the same step, so that Wait cannot find the job finished
// before its report has returned.
func (p *Pool[T]) release(report bool) {
	p.mu.Lock()
	p.active--
	if report {
		p.reporting++
	}
	p.wakeReady()
	p.mu.Unlock()
	<-p.slots
}

func (p *Pool[T]) dispatch(job T) {
	select {
	case p.work <- job:
		return
	default:
	}

	p.mu.Lock()
	if p.workers < p.size && !p.closed {
		p.workers++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.worker(job)
		return
	}
	p.mu.Unlock()

	// Every worker is busy, yet this job holds a slot, so one of them has
	// just finished its call and is about to come back for this one,
	// because after its call a worker hands the report off without waiting
	// for it. After Close the workers are gone: run the job here so that it
	// still runs exactly once.
	select {
	case p.work <- job:
	case <-p.quit:
		report, err := p.call(job)
		p.release(report)
		if report {
			p.deliver(outcome[T]{job: job, err: err})
		}
	}
}

func (p *Pool[T]) worker(job T) {
	defer p.wg.Done()
	for {
		report, err := p.call(job)
		p.release(report)
		if report {
			p.handOff(outcome[T]{job: job, err: err})
		}

		select {
		case job = <-p.work:
		case <-p.quit:
			return
		}
	}
}

// handOff gives a finished call's report to a parked reporter, or starts a
// new reporter for it. It does not wait for the report to run.
func (p *Pool[T]) handOff(o outcome[T]) {
	select {
	case p.reports <- o:
		return
	default:
	}
	// Counted before the worker returns, so Close, which waits for the
	// workers first, then waits for this reporter too.
	p.mu.Lock()
	p.reporters++
	p.mu.Unlock()
	go p.reporter(o)
}

func (p *Pool[T]) reporter(o outcome[T]) {
	for {
		p.deliver(o)
		o = outcome[T]{} // hold no job while parked

		p.mu.Lock()
		park := !p.closed && p.parked < p.size
		if park {
			p.parked++
		} else {
			p.reporters--
			p.wakeReady()
		}
		p.mu.Unlock()
		if !park {
			return
		}

		select {
		case o = <-p.reports:
			p.mu.Lock()
			p.parked--
			p.mu.Unlock()
		case <-p.quit:
			p.mu.Lock()
			p.parked--
			p.reporters--
			p.wakeReady()
			p.mu.Unlock()
			return
		}
	}
}

// deliver runs one report, which release counted in reporting.
func (p *Pool[T]) deliver(o outcome[T]) {
	runReport(func() { p.report(o.job, o.err) })
	p.mu.Lock()
	p.reporting--
	p.wakeReady()
	p.mu.Unlock()
}

// Wait blocks until no call and no report is running, or ctx ends, and
// returns ctx's error in that case. Called from a report, it does not wait
// for that report. It does not stop new submissions: under a steady stream
// of them it returns at the first moment the pool is idle.
func (p *Pool[T]) Wait(ctx context.Context) error {
	own := 0
	if inReport() {
		own = 1
	}
	return p.await(ctx, func() bool { return p.active == 0 && p.reporting <= own })
}

// Close rejects new jobs, waits until every call and every report has
// returned, and stops the pool's goroutines. Called from a report, it does
// not wait for that report: its reporter stops once the report returns. It
// is safe to call more than once.
//
// NOTE: Close and Wait recognize a report by a frame on the calling
// goroutine's stack, which does not tell which pool the report belongs
// to. Called from a report of another pool, they may return while one
// report of this pool still runs.
func (p *Pool[T]) Close() {
	own := inReport()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	p.mu.Unlock()

	// Workers run no report, so they stop whatever the caller is.
	p.wg.Wait()
	_ = p.await(context.Background(), func() bool {
		if own && p.reporters == 1 && p.reporting == 1 {
			return true // the one reporter left runs the caller's report
		}
		return p.reporters == 0
	})
}

// await blocks until ready holds, or ctx ends. ready is evaluated with
// p.mu held, now and at each call of wakeReady, so a moment when it holds
// is not missed even if it is over by the time this goroutine runs again.
func (p *Pool[T]) await(ctx context.Context, ready func() bool) error {
	p.mu.Lock()
	if ready() {
		p.mu.Unlock()
		return nil
	}
	w := waiter{ready: ready, wake: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	select {
	case <-w.wake:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.waiters {
		if p.waiters[i].wake == w.wake {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	return nil // woken while ctx ended
}

// wakeReady wakes the waiters whose condition now holds. p.mu must be
// held.
func (p *Pool[T]) wakeReady() {
	remaining := p.waiters[:0]
	for _, w := range p.waiters {
		if w.ready() {
			close(w.wake)
		} else {
			remaining = append(remaining, w)
		}
	}
	clear(p.waiters[len(remaining):])
	p.waiters = remaining
}
