package workpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPoolRunsEveryJobOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	p := New(4, func(i int) {
		mu.Lock()
		seen[i]++
		mu.Unlock()
	})
	for i := range 1000 {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("wait: %v", err)
	}
	p.Close()

	if len(seen) != 1000 {
		t.Fatalf("ran %d distinct jobs, want 1000", len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("job %d ran %d times, want 1", i, n)
		}
	}
}

func TestPoolBoundsConcurrentJobs(t *testing.T) {
	const size = 3
	var running, peak atomic.Int32
	var started sync.WaitGroup
	started.Add(size)
	release := make(chan struct{})
	p := New(size, func(i int) {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		if i < size {
			started.Done()
		}
		<-release
		running.Add(-1)
	})
	defer p.Close()

	for i := range size {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	started.Wait()
	if p.TrySubmit(99) {
		t.Fatal("TrySubmit accepted a job while every slot was taken")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Submit(ctx, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit on a full pool with a canceled context = %v, want context.Canceled", err)
	}

	close(release)
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if got := peak.Load(); got != size {
		t.Fatalf("peak concurrency %d, want %d", got, size)
	}
}

func TestPoolWaitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	p := New(1, func(int) { <-release })
	defer p.Close()

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a running job = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := p.Wait(context.Background()); err != nil {
		t.Fatalf("wait after release: %v", err)
	}
}

func TestPoolWaitDoesNotBlockSubmit(t *testing.T) {
	release := make(chan struct{})
	p := New(2, func(i int) {
		if i == 1 {
			<-release
		}
	})
	defer p.Close()

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.Wait(context.Background()) }()

	// The second slot stays free for other submitters while Wait waits, so
	// a job whose completion submits more work cannot deadlock with Wait.
	if err := p.Submit(context.Background(), 2); err != nil {
		t.Fatalf("submit during wait: %v", err)
	}
	close(release)
	if err := <-waited; err != nil {
		t.Fatalf("wait: %v", err)
	}
}

func TestPoolAcquireCountsAgainstBound(t *testing.T) {
	p := New(1, func(int) {})
	defer p.Close()

	if err := p.Acquire(context.Background()); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if p.TrySubmit(1) {
		t.Fatal("TrySubmit succeeded while the only slot was acquired")
	}
	p.Release()
	if !p.TrySubmit(1) {
		t.Fatal("TrySubmit failed after Release freed the slot")
	}
}

func TestPoolSubmitAfterCloseFails(t *testing.T) {
	p := New(2, func(int) {})
	p.Close()
	if err := p.Submit(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
	if p.TrySubmit(1) {
		t.Fatal("TrySubmit after Close accepted a job")
	}
	p.Close() // a second Close is harmless
}

func TestPoolCloseWaitsForRunningJobs(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	p := New(1, func(int) {
		close(started)
		<-release
		finished.Store(true)
	})
	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	<-started

	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	close(release)
	<-closed
	if !finished.Load() {
		t.Fatal("Close returned before the running job finished")
	}
}
