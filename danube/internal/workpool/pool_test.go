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
	p := newPool(4, func(i int) {
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
	p := newPool(size, func(i int) {
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
	p := newPool(1, func(int) { <-release })
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
	p := newPool(2, func(i int) {
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
	p := newPool(1, func(int) {})
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
	p := newPool(2, func(int) {})
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
	p := newPool(1, func(int) {
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

// newPool returns a pool whose jobs are calls without a report.
func newPool(size int, call func(int)) *Pool[int] {
	return New(size, func(i int) (bool, error) {
		call(i)
		return false, nil
	}, func(int, error) {})
}

// hangTimeout bounds every wait of a test that would hang on a deadlock.
const hangTimeout = 10 * time.Second

// await fails the test unless ch is closed within hangTimeout.
func await(t *testing.T, ch <-chan struct{}, event string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hangTimeout):
		t.Fatalf("%s did not happen within %v: deadlock", event, hangTimeout)
	}
}

// closeWithin closes p, and fails the test if Close does not return
// within hangTimeout; the test binary then goes on instead of hanging.
func closeWithin[T any](t *testing.T, p *Pool[T]) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	await(t, closed, "Close")
}

// stillBlocked fails the test if ch is closed within a short while, for a
// wait that must go on until the test releases it.
func stillBlocked(t *testing.T, ch <-chan struct{}, event string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s returned before the report it must wait for", event)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestPoolReportRunsWithoutSlot(t *testing.T) {
	// With one slot, a report that submits a job and waits for that job's
	// report deadlocks if the report still holds its call's slot.
	second := make(chan struct{})
	var p *Pool[int]
	p = New(1, func(int) (bool, error) { return true, nil }, func(i int, _ error) {
		switch i {
		case 1:
			if err := p.Submit(context.Background(), 2); err != nil {
				t.Errorf("submit from a report: %v", err)
				close(second)
			}
		case 2:
			close(second)
		}
	})
	defer closeWithin(t, p)

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	await(t, second, "the report of a job submitted from a report")
}

func TestPoolReportsRunWhileEverySlotIsTaken(t *testing.T) {
	// Every report blocks in Submit until the pool has a free slot. With
	// slots held by reports, none would ever free up.
	const size = 3
	var reported sync.WaitGroup
	reported.Add(2 * size)
	var p *Pool[int]
	p = New(size, func(int) (bool, error) { return true, nil }, func(i int, _ error) {
		defer reported.Done()
		if i < size {
			if err := p.Submit(context.Background(), size+i); err != nil {
				t.Errorf("submit from report %d: %v", i, err)
				reported.Done()
			}
		}
	})
	defer closeWithin(t, p)

	for i := range size {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	all := make(chan struct{})
	go func() {
		reported.Wait()
		close(all)
	}()
	await(t, all, "every report")
}

func TestPoolCloseFromReportWaitsForOthers(t *testing.T) {
	blockerStarted := make(chan struct{})
	releaseBlocker := make(chan struct{})
	closed := make(chan struct{})
	var blockerDone atomic.Bool
	var p *Pool[int]
	p = New(2, func(int) (bool, error) { return true, nil }, func(i int, _ error) {
		switch i {
		case 1: // another report, still running when Close is called
			close(blockerStarted)
			<-releaseBlocker
			blockerDone.Store(true)
		case 2:
			<-blockerStarted
			p.Close()
			if !blockerDone.Load() {
				t.Error("Close called from a report returned before the pool's other report")
			}
			close(closed)
		}
	})

	for i := 1; i <= 2; i++ {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	await(t, blockerStarted, "the first report")
	stillBlocked(t, closed, "Close called from a report")
	close(releaseBlocker)
	await(t, closed, "Close called from a report")
}

func TestPoolCloseWaitsForReports(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	p := New(1, func(int) (bool, error) { return true, nil }, func(int, error) {
		close(started)
		<-release
		finished.Store(true)
	})
	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	await(t, started, "the report")

	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	stillBlocked(t, closed, "Close")
	close(release)
	await(t, closed, "Close")
	if !finished.Load() {
		t.Fatal("Close returned before the running report finished")
	}
}

func TestPoolWaitFromReportSkipsItself(t *testing.T) {
	waited := make(chan struct{})
	var p *Pool[int]
	p = New(2, func(int) (bool, error) { return true, nil }, func(int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
		defer cancel()
		if err := p.Wait(ctx); err != nil {
			t.Errorf("Wait from a report: %v", err)
		}
		close(waited)
	})
	defer closeWithin(t, p)

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	await(t, waited, "Wait called from a report")
}

func TestPoolWaitWaitsForReports(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	p := New(1, func(int) (bool, error) { return true, nil }, func(int, error) {
		close(started)
		<-release
	})
	defer closeWithin(t, p)

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	await(t, started, "the report")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a running report = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("wait after release: %v", err)
	}
}

func TestPoolReportsEveryJobOnceAcrossClose(t *testing.T) {
	// Jobs submitted while another goroutine closes the pool are either
	// rejected by Submit or called and reported exactly once.
	const jobs = 200
	var calls, reports [jobs]atomic.Int32
	p := New(4, func(i int) (bool, error) {
		calls[i].Add(1)
		return true, nil
	}, func(i int, _ error) { reports[i].Add(1) })

	accepted := make([]bool, jobs)
	go p.Close()
	for i := range jobs {
		accepted[i] = p.Submit(context.Background(), i) == nil
	}
	closeWithin(t, p)

	for i := range jobs {
		want := int32(0)
		if accepted[i] {
			want = 1
		}
		if got := calls[i].Load(); got != want {
			t.Fatalf("job %d (accepted %v) called %d times, want %d", i, accepted[i], got, want)
		}
		if got := reports[i].Load(); got != want {
			t.Fatalf("job %d (accepted %v) reported %d times, want %d", i, accepted[i], got, want)
		}
	}
}

func TestPoolCloseFromOtherPoolsReportReturns(t *testing.T) {
	// A report of one pool may close another. The NOTE on Close states how
	// far that Close waits.
	other := newPool(1, func(int) {})
	closed := make(chan struct{})
	p := New(1, func(int) (bool, error) { return true, nil }, func(int, error) {
		other.Close()
		close(closed)
	})
	defer closeWithin(t, p)

	if err := p.Submit(context.Background(), 1); err != nil {
		t.Fatalf("submit: %v", err)
	}
	await(t, closed, "Close of another pool called from a report")
}
