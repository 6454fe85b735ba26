package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// startStop runs one supervisor with n children that wait for their
// context, and returns the time from Run until every child runs, and the
// time from the cancellation until Run returned.
func startStop(n int) (starting, stopping time.Duration, err error) {
	s := supervisor.New("root")
	var started sync.WaitGroup
	started.Add(n)
	for i := range n {
		err := s.Add(supervisor.Spec{Name: strconv.Itoa(i), Child: supervisor.ChildFunc(func(ctx context.Context) error {
			started.Done()
			<-ctx.Done()
			return ctx.Err()
		})})
		if err != nil {
			return 0, 0, fmt.Errorf("add child %d: %w", i, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- s.Run(ctx) }()
	started.Wait()
	t1 := time.Now()
	cancel()
	if err := <-done; err != nil {
		return 0, 0, fmt.Errorf("supervisor Run: %w", err)
	}
	t2 := time.Now()
	return t1.Sub(t0), t2.Sub(t1), nil
}

// measureSupervisor times starting and stopping the configured number of
// children, the median of the configured runs for each.
func (s *suite) measureSupervisor(_ context.Context, sec *Section) error {
	n := s.cfg.SupervisorChildren
	sec.Note = fmt.Sprintf("One one-for-one supervisor with %d children that wait for their context. "+
		"Start: from Run until every child runs. Stop: from the cancellation until Run returned, "+
		"the children stopped one at a time, last started first. Median of %d runs.", n, s.cfg.Repeat)

	var starts, stops []time.Duration
	for range s.cfg.Repeat {
		start, stop, err := startStop(n)
		if err != nil {
			return err
		}
		starts, stops = append(starts, start), append(stops, stop)
	}
	slices.Sort(starts)
	slices.Sort(stops)
	for _, r := range []struct {
		name string
		d    time.Duration
	}{
		{fmt.Sprintf("start %d children", n), starts[len(starts)/2]},
		{fmt.Sprintf("stop %d children", n), stops[len(stops)/2]},
	} {
		ms := float64(r.d.Microseconds()) / 1000
		sec.Rows = append(sec.Rows, Row{
			Name: r.name, Value: Quantity{Value: ms, Unit: Millisecond},
			Target: "< 1000 ms", Verdict: verdict(r.d < time.Second),
		})
	}
	return nil
}
