package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// envStalledSink names the environment variable that makes this program
// run as the stalled sink of the memory section. Its value is the JSON of
// a stalledSinkSpec. The memory section starts the program's own
// executable with it, so that the sink runs in a process of its own,
// away from the broker and its backlog.
const envStalledSink = "DANUBE_BENCHSUITE_STALLED_SINK"

// stalledSinkSpec configures the stalled sink process.
type stalledSinkSpec struct {
	ServiceURL string `json:"service_url"`
	AdminURL   string `json:"admin_url"`
	Topic      string `json:"topic"`
	// MaxInFlight bounds the records the route holds; 0 means the
	// runtime's default.
	MaxInFlight int `json:"max_in_flight"`
}

// heapReport is what the stalled sink reports of itself: one JSON line
// when it is ready, and one each time it is asked.
type heapReport struct {
	// PeakHeapBytes is the highest heap allocation sampled since the
	// process started: live objects and garbage not yet collected, as
	// go_memstats_heap_alloc_bytes counts them.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// LiveHeapBytes is the heap allocation right after a forced
	// collection: the live objects.
	LiveHeapBytes uint64 `json:"live_heap_bytes"`
	// InFlight is the number of records the sink holds, received and not
	// yet settled.
	InFlight   int64 `json:"in_flight"`
	Goroutines int   `json:"goroutines"`
	// Error is set when the sink could not start.
	Error string `json:"error,omitempty"`
}

// stallingConnector blocks every Write until the write's context is done,
// as a target system that stopped answering would.
type stallingConnector struct{}

func (*stallingConnector) Open(context.Context) error   { return nil }
func (*stallingConnector) Close(context.Context) error  { return nil }
func (*stallingConnector) Health(context.Context) error { return nil }

func (*stallingConnector) Write(ctx context.Context, _ []*sink.Record) error {
	<-ctx.Done()
	return ctx.Err()
}

// heapSampler reads the heap allocation every interval and keeps the
// highest value.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done sync.WaitGroup
}

// heapObjectsMetric is the runtime metric of the heap allocation: the
// bytes of objects, live or not yet swept.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: heapObjectsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler(interval time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			h.observe()
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) observe() {
	v := heapBytes()
	for {
		old := h.peak.Load()
		if v <= old || h.peak.CompareAndSwap(old, v) {
			return
		}
	}
}

func (h *heapSampler) close() {
	close(h.stop)
	h.done.Wait()
}

// runStalledSink runs the sink runtime with a connector that never
// finishes a write, reports its heap as JSON lines on standard output
// (once when the sink is subscribed, then once for every line read from
// standard input), and stops when standard input ends. It returns the
// process's exit status.
func runStalledSink(specJSON string) int {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		_ = out.Encode(heapReport{Error: err.Error()})
		return 1
	}
	var spec stalledSinkSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fail(fmt.Errorf("%s: %w", envStalledSink, err))
	}

	sampler := startHeapSampler(5 * time.Millisecond)
	defer sampler.close()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = spec.ServiceURL
	cfg.ConnectorName = "stalled"
	cfg.DanubeTopic = []string{spec.Topic}
	cfg.DrainTimeout = time.Second
	// The broker would deliver the held messages again after its ack
	// timeout; a long one keeps the held set the same in every run.
	cfg.Policy.AdminURL = spec.AdminURL
	cfg.Policy.AckTimeout = time.Hour
	rt, err := sink.New(&stallingConnector{}, cfg, sink.Options{Logger: log, MaxInFlight: spec.MaxInFlight})
	if err != nil {
		return fail(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- rt.Run(ctx) }()
	if err := waitReady(ctx, rt, runErr); err != nil {
		return fail(err)
	}

	report := func() heapReport {
		sampler.observe()
		r := heapReport{PeakHeapBytes: sampler.peak.Load(), Goroutines: runtime.NumGoroutine()}
		for _, st := range rt.Stats() {
			r.InFlight += st.InFlight
		}
		runtime.GC()
		r.LiveHeapBytes = heapBytes()
		return r
	}
	if err := out.Encode(report()); err != nil {
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if err := out.Encode(report()); err != nil {
			return 1
		}
	}

	// The stop is forced at once, because the stalled writes never end.
	cancel()
	rt.Force()
	if err := <-runErr; err != nil && !errors.Is(err, sink.ErrForced) {
		log.Warn("stalled sink stopped", "error", err)
	}
	return 0
}

// waitReady waits until rt is subscribed and its connector open, for at
// most 30 seconds.
func waitReady(ctx context.Context, rt *sink.Runtime, runErr <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for rt.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("the sink was not ready within 30s: %w", rt.Ready(ctx))
		}
		select {
		case err := <-runErr:
			return fmt.Errorf("the sink stopped before it was ready: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
