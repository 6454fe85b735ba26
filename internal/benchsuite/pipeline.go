package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// nopSettler settles nothing: the pipeline's settlements end there.
type nopSettler struct{}

func (nopSettler) Ack()                       {}
func (nopSettler) Nack(time.Duration, string) {}
func (nopSettler) DeadLetter(string)          {}

// countingSource makes n messages carrying their index, each with a
// tracker of its own, as a broker source would.
type countingSource struct{ next, n int }

func (s *countingSource) Receive(_ context.Context, buf []stage.Msg[int]) (int, error) {
	if s.next == s.n {
		return 0, io.EOF
	}
	k := min(len(buf), s.n-s.next)
	for i := range k {
		buf[i] = stage.NewMsg(s.next+i, 8, nopSettler{})
	}
	s.next += k
	return k, nil
}

// runPipeline runs n messages through the five stages source → map →
// filter → batch of 1000 → write doing nothing, with the default options
// and the given observer, and returns the time Run took.
func runPipeline(n int, observer stage.Observer) (time.Duration, error) {
	written := 0
	p := stage.New("bench", stage.Options{Observer: observer})
	src := stage.From(p, "source", stage.Source[int](&countingSource{n: n}))
	mapped := stage.Then(src, "map", stage.Map(func(_ context.Context, v int) (int, error) { return v + 1, nil }))
	kept := stage.Then(mapped, "filter", stage.Filter(func(v int) bool { return v >= 0 }))
	batches := stage.Batch(kept, "batch", stage.BatchOptions{MaxCount: 1000})
	stage.Write(batches, "write", stage.WriterFunc[int](func(_ context.Context, batch []stage.Msg[int]) error {
		written += len(batch)
		return nil
	}), stage.WriteOptions{})

	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if written != n {
		return 0, fmt.Errorf("pipeline wrote %d of %d messages", written, n)
	}
	return elapsed, nil
}

// opaqueMeterProvider hides a no-op provider from otel.New, which would
// otherwise recognise it and give the stages the zero observer: with it,
// every observer call runs and records into no-op instruments.
type opaqueMeterProvider struct{ metric.MeterProvider }

// stageObserver returns the stage observer of an otel.Instrumentation on
// mp.
func stageObserver(mp metric.MeterProvider) (stage.Observer, error) {
	inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "bench", Topic: "/default/bench", Subscription: "bench"})
	if err != nil {
		return stage.Observer{}, err
	}
	return inst.StageObserver(), nil
}

// sample is one run of a CPU-bound measurement: its time and the heap
// allocations the process made during it.
type sample struct {
	elapsed time.Duration
	allocs  uint64
}

// measureRun runs fn on a collected heap and counts the allocations of the
// whole process while it runs.
func measureRun(fn func() (time.Duration, error)) (sample, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	elapsed, err := fn()
	runtime.ReadMemStats(&after)
	return sample{elapsed: elapsed, allocs: after.Mallocs - before.Mallocs}, err
}

// medianSample returns the sample of median time.
func medianSample(samples []sample) sample {
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b sample) int { return int(a.elapsed - b.elapsed) })
	return sorted[len(sorted)/2]
}

// measureStage compares the pipeline with the hand-written chain of the
// same shape, and with the otel observer, in interleaved runs so that a
// change in the machine's load spreads over all of them.
func (s *suite) measureStage(_ context.Context, sec *Section) error {
	n := s.cfg.PipelineMessages
	sec.Note = fmt.Sprintf("%d messages, median of %d interleaved runs. The pipeline has the default options "+
		"(chunks of 128 messages between stages, 10,000 in flight); each message gets its own tracker from stage.NewMsg. "+
		"The hand-written chain of the same shape passes one pointer per message until the batcher; "+
		"its batched variant passes batches of 1000 between all five goroutines. "+
		"Instrumented: otel.StageObserver on a no-op MeterProvider hidden from otel.New, so that every observer call runs "+
		"into no-op instruments. The explicit no-op provider gives the stages the zero observer, the bare pipeline's code: "+
		"its difference from the bare pipeline is the run's noise.", n, s.cfg.Repeat)

	noopInstruments, err := stageObserver(opaqueMeterProvider{metricnoop.NewMeterProvider()})
	if err != nil {
		return err
	}
	noopProvider, err := stageObserver(metricnoop.NewMeterProvider())
	if err != nil {
		return err
	}
	variants := []struct {
		name string
		run  func() (time.Duration, error)
	}{
		{"pipeline", func() (time.Duration, error) { return runPipeline(n, stage.Observer{}) }},
		{"hand", func() (time.Duration, error) { return handChain(n) }},
		{"hand-batched", func() (time.Duration, error) { return handChainBatched(n) }},
		{"noop-instruments", func() (time.Duration, error) { return runPipeline(n, noopInstruments) }},
		{"noop-provider", func() (time.Duration, error) { return runPipeline(n, noopProvider) }},
	}
	// A pipeline allocates its stages, channels and chunks once; a run of
	// no messages measures that, to be taken off the per-message count.
	setup, err := measureRun(func() (time.Duration, error) { return runPipeline(0, stage.Observer{}) })
	if err != nil {
		return fmt.Errorf("pipeline of no messages: %w", err)
	}

	samples := map[string][]sample{}
	for range s.cfg.Repeat {
		for _, v := range variants {
			smp, err := measureRun(v.run)
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			samples[v.name] = append(samples[v.name], smp)
		}
	}
	med := map[string]sample{}
	for name, ss := range samples {
		med[name] = medianSample(ss)
	}
	rate := func(name string) float64 { return float64(n) / med[name].elapsed.Seconds() }
	nsPerMsg := func(name string) float64 { return float64(med[name].elapsed.Nanoseconds()) / float64(n) }
	allocsPerMsg := func(name string) float64 { return float64(med[name].allocs) / float64(n) }
	// The count covers the whole process, so the runtime's own allocations
	// during a run (goroutine stacks, timers, GC work) are in it too. The
	// hand-written chain allocates exactly one object per message and a
	// few channels, so what it shows above n is that background, taken off
	// the pipeline's count as well.
	background := max(float64(med["hand"].allocs)-float64(n), 0)
	pipelineAllocs := (float64(med["pipeline"].allocs) - float64(setup.allocs) - background) / float64(n)

	hand := Rate(rate("hand"), "msgs")
	sec.Rows = append(sec.Rows,
		Row{Name: "hand-written chain, same shape, a pointer per message", Value: hand,
			Versus: s.versusChain(false), Ratio: ratio(rate("hand"), s.ceil.chain)},
		Row{Name: "hand-written chain, same shape, batches of 1000", Value: Rate(rate("hand-batched"), "msgs"),
			Versus: s.versusChain(true), Ratio: ratio(rate("hand-batched"), s.ceil.chainBatched)},
		atLeastRow(Row{Name: "pipeline: source → map → filter → batch 1000 → write", Value: Rate(rate("pipeline"), "msgs"),
			Versus: s.versusChain(false), Ratio: ratio(rate("pipeline"), s.ceil.chain)}, 3e6, "msgs"),
	)

	cost := nsPerMsg("pipeline") / nsPerMsg("hand")
	sec.Rows = append(sec.Rows,
		Row{Name: "pipeline, time per message", Value: Quantity{Value: nsPerMsg("pipeline"), Unit: NanosPerMessage},
			Versus: fmt.Sprintf("hand-written chain: %s", Quantity{Value: nsPerMsg("hand"), Unit: NanosPerMessage}),
			Ratio:  fmt.Sprintf("%.2f×", cost), Target: "≤ 1.5× the hand-written chain", Verdict: verdict(cost <= 1.5)},
		Row{Name: "pipeline, time per message, against the batched chain", Value: Quantity{Value: nsPerMsg("pipeline"), Unit: NanosPerMessage},
			Versus: fmt.Sprintf("batched hand-written chain: %s", Quantity{Value: nsPerMsg("hand-batched"), Unit: NanosPerMessage}),
			Ratio:  fmt.Sprintf("%.2f×", nsPerMsg("pipeline")/nsPerMsg("hand-batched"))},
		Row{Name: fmt.Sprintf("pipeline, heap allocations (less the %d of its setup and the %.0f of the process's background)", setup.allocs, background),
			Value:  Quantity{Value: pipelineAllocs, Unit: PerMessage, Label: "allocs"},
			Versus: fmt.Sprintf("hand-written chain: %s", Quantity{Value: allocsPerMsg("hand"), Unit: PerMessage, Label: "allocs"}),
			Target: "≤ 1 alloc/msg", Verdict: verdict(pipelineAllocs <= 1)},
	)

	for _, v := range []struct{ name, label string }{
		{"noop-instruments", "pipeline + otel observer, no-op instruments"},
		{"noop-provider", "pipeline + otel, explicit no-op MeterProvider"},
	} {
		overhead := nsPerMsg(v.name)/nsPerMsg("pipeline") - 1
		sec.Rows = append(sec.Rows, Row{
			Name: v.label, Value: Rate(rate(v.name), "msgs"),
			Versus: fmt.Sprintf("pipeline: %s", Rate(rate("pipeline"), "msgs")),
			Ratio:  fmt.Sprintf("%+.1f%% time", overhead*100), Target: "< 5% more time", Verdict: verdict(overhead < 0.05),
		})
	}
	return nil
}

// versusChain names the chain ceiling and its value.
func (s *suite) versusChain(batched bool) string {
	if batched {
		if s.ceil.chainBatched == 0 {
			return ""
		}
		return fmt.Sprintf("ceiling, batched chain: %s", Rate(s.ceil.chainBatched, "msgs"))
	}
	if s.ceil.chain == 0 {
		return ""
	}
	return fmt.Sprintf("ceiling, chain: %s", Rate(s.ceil.chain, "msgs"))
}
