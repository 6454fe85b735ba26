// Package workpool runs jobs of one type on a bounded set of goroutines.
//
// A Pool bounds how many jobs run at once (its size); Submit blocks while
// that many are running, which is the backpressure that keeps a fast caller
// from piling up unbounded work. Workers are started on demand, up to the
// size, and then kept: a job handed to a parked worker costs one channel
// send and no allocation, where a goroutine per job would also pay for
// stack growth on every call deep into gRPC.
//
// The caller owns the pool: Close stops the workers and must be called.
package workpool

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Submit and Run after Close was called.
var ErrClosed = errors.New("workpool: closed")

// Pool runs jobs of type T with a handler. Its zero value is not usable;
// create one with New.
type Pool[T any] struct {
	handle func(T)
	size   int

	slots chan struct{} // one token per running job
	work  chan T        // unbuffered: hands a job to a parked worker
	quit  chan struct{} // closed by Close

	mu      sync.Mutex
	workers int
	closed  bool
	active  int           // slots taken
	idle    chan struct{} // closed while active is 0
	wg      sync.WaitGroup
}

// New returns a pool that runs at most size jobs at once, each by calling
// handle. A size below 1 is taken as 1. handle must not panic.
func New[T any](size int, handle func(T)) *Pool[T] {
	if size < 1 {
		size = 1
	}
	idle := make(chan struct{})
	close(idle)
	return &Pool[T]{
		handle: handle,
		size:   size,
		slots:  make(chan struct{}, size),
		work:   make(chan T),
		quit:   make(chan struct{}),
		idle:   idle,
	}
}

// Size returns the maximum number of jobs that run at once.
func (p *Pool[T]) Size() int { return p.size }

// Submit runs job on a worker. It waits while size jobs are running, and
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
func (p *Pool[T]) Release() {
	p.mu.Lock()
	p.active--
	if p.active == 0 {
		close(p.idle)
	}
	p.mu.Unlock()
	<-p.slots
}

func (p *Pool[T]) taken() {
	p.mu.Lock()
	if p.active == 0 {
		p.idle = make(chan struct{})
	}
	p.active++
	p.mu.Unlock()
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
	// just finished its job and is about to come back for this one. After
	// Close the workers are gone: run the job here so that it still runs
	// exactly once.
	select {
	case p.work <- job:
	case <-p.quit:
		p.handle(job)
		p.Release()
	}
}

func (p *Pool[T]) worker(job T) {
	defer p.wg.Done()
	for {
		p.handle(job)
		p.Release()

		select {
		case job = <-p.work:
		case <-p.quit:
			return
		}
	}
}

// Wait blocks until no job is running, or ctx ends, and returns ctx's
// error in that case. It does not stop new submissions: under a steady
// stream of them it returns at the first moment the pool is idle.
func (p *Pool[T]) Wait(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()

	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close rejects new jobs, waits for running jobs to finish and stops the
// workers. It is safe to call more than once.
func (p *Pool[T]) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
