package supervisor

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkStartStop10000 measures a supervisor with 10,000 children: the
// time from Run until every child's Run has been called (start-ms), and
// from the cancellation of Run's context until Run has returned, every
// child having been stopped in turn (stop-ms).
func BenchmarkStartStop10000(b *testing.B) {
	const n = 10_000
	var starting, stopping time.Duration
	runs := 0
	for b.Loop() {
		s := New("root")
		var started sync.WaitGroup
		started.Add(n)
		for i := range n {
			err := s.Add(Spec{Name: strconv.Itoa(i), Child: ChildFunc(func(ctx context.Context) error {
				started.Done()
				<-ctx.Done()
				return ctx.Err()
			})})
			if err != nil {
				b.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)

		t0 := time.Now()
		go func() { done <- s.Run(ctx) }()
		started.Wait()
		t1 := time.Now()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()

		starting += t1.Sub(t0)
		stopping += t2.Sub(t1)
		runs++
	}
	b.ReportMetric(float64(starting.Milliseconds())/float64(runs), "start-ms")
	b.ReportMetric(float64(stopping.Milliseconds())/float64(runs), "stop-ms")
}

// BenchmarkRestart measures one restart without backoff: the child's
// return, the supervisor's decision and the start of the next instance.
func BenchmarkRestart(b *testing.B) {
	restarted := make(chan struct{})
	s := New("root", WithBackoff(noBackoff), WithIntensity(1<<30, time.Hour))
	err := s.Add(Spec{Name: "c", Child: ChildFunc(func(ctx context.Context) error {
		select {
		case restarted <- struct{}{}:
			return errBoom
		case <-ctx.Done():
			return ctx.Err()
		}
	})})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	for b.Loop() {
		<-restarted
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
