package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// The memory section's settings.
const (
	memoryWindow = 1000
	memoryTopic  = "/default/backlog"
)

// stalledSink is a running stalled sink process.
type stalledSink struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	first heapReport // the report made when it became ready
}

// startStalledSink starts this program's executable as a stalled sink
// and waits until it is subscribed.
func startStalledSink(spec stalledSinkSpec) (*stalledSink, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program's executable: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envStalledSink+"="+string(specJSON))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the stalled sink process: %w", err)
	}

	p := &stalledSink{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	p.first, err = p.read()
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// read reads the process's next report.
func (p *stalledSink) read() (heapReport, error) {
	if !p.out.Scan() {
		err := p.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return heapReport{}, fmt.Errorf("read the stalled sink's report: %w", err)
	}
	var r heapReport
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return heapReport{}, fmt.Errorf("stalled sink report %q: %w", p.out.Text(), err)
	}
	if r.Error != "" {
		return heapReport{}, fmt.Errorf("stalled sink: %s", r.Error)
	}
	return r, nil
}

// report asks the process for a report and returns it.
func (p *stalledSink) report() (heapReport, error) {
	if _, err := io.WriteString(p.stdin, "report\n"); err != nil {
		return heapReport{}, fmt.Errorf("ask the stalled sink for a report: %w", err)
	}
	return p.read()
}

// stop closes the process's standard input, which stops it, and waits
// for it; a process still running after ten seconds is killed.
func (p *stalledSink) stop() {
	p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// backlogRun is the outcome of one stalled-sink run.
type backlogRun struct {
	backlog   int
	delivered int        // messages the broker delivered to the sink and awaits acknowledgements of
	ready     heapReport // when subscribed, before any message
	loaded    heapReport // with the backlog waiting
}

// runBacklog starts a broker and a stalled sink process, publishes
// backlog messages, waits until the broker has delivered what the window
// lets it, and returns the sink's heap reports.
func runBacklog(ctx context.Context, backlog, payloadSize int, settle time.Duration) (backlogRun, error) {
	b, err := startBroker(memoryWindow, memoryTopic)
	if err != nil {
		return backlogRun{}, err
	}
	defer b.close()

	p, err := startStalledSink(stalledSinkSpec{ServiceURL: b.broker.URL(), AdminURL: b.broker.AdminURL(), Topic: memoryTopic})
	if err != nil {
		return backlogRun{}, err
	}
	defer p.stop()

	payload := make([]byte, payloadSize)
	if _, err := b.publish(ctx, backlog, func(int) []byte { return payload }); err != nil {
		return backlogRun{}, fmt.Errorf("publish the backlog: %w", err)
	}
	if _, err := waitDelivered(ctx, b, "stalled", min(backlog, memoryWindow)); err != nil {
		return backlogRun{}, err
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return backlogRun{}, ctx.Err()
	}

	loaded, err := p.report()
	if err != nil {
		return backlogRun{}, err
	}
	delivered, err := waitDelivered(ctx, b, "stalled", 0)
	if err != nil {
		return backlogRun{}, err
	}
	return backlogRun{backlog: backlog, delivered: delivered, ready: p.first, loaded: loaded}, nil
}

// waitDelivered waits until at least want messages of subscription sub
// await their acknowledgement, for at most a minute, and returns how many
// do.
func waitDelivered(ctx context.Context, b *testBroker, sub string, want int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		delivered := 0
		if st, ok := b.broker.Subscription(b.topic, sub); ok {
			for _, e := range st.Pending {
				if e.Status == "awaiting_ack" {
					delivered++
				}
			}
		}
		if delivered >= want {
			return delivered, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d messages delivered to the stalled sink: %w", delivered, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// measureMemory reads the heap of a sink process whose writer is stalled
// while backlogs of growing size wait at the broker.
func (s *suite) measureMemory(ctx context.Context, sec *Section) error {
	if len(s.cfg.Backlogs) == 0 {
		return errors.New("no backlog sizes to measure")
	}
	sec.Note = fmt.Sprintf("The sink runtime runs in a process of its own (this program's executable, started again as a stalled sink) "+
		"with a connector whose Write never returns, against a danubetest broker in this process with window %d. "+
		"The backlog of %d-byte messages is published while the sink is subscribed; once the broker has delivered what the window "+
		"lets it and %v has passed, the sink reports the peak of its heap allocation (live objects and garbage not yet collected, "+
		"sampled every 5 ms since it started, as go_memstats_heap_alloc_bytes) and its live heap after a forced collection. "+
		"Delivered: the messages the broker sent to the sink and awaits acknowledgements of, all of them in the sink process "+
		"(the client's receive buffer and the pipeline); in the pipeline: those its entry admitted. "+
		"The sink's in-flight limits: the broker's window, the client's receive buffer of %d messages, and the runtime's %d records "+
		"or %d MiB per route. The ack timeout is an hour, so nothing is delivered twice.",
		memoryWindow, s.cfg.MemoryPayload, s.cfg.MemorySettle, danube.DefaultBufferSize, stage.DefaultMaxInFlight, stage.DefaultMaxInFlightBytes>>20)

	var first backlogRun
	for i, backlog := range s.cfg.Backlogs {
		run, err := runBacklog(ctx, backlog, s.cfg.MemoryPayload, s.cfg.MemorySettle)
		if err != nil {
			return fmt.Errorf("backlog of %d: %w", backlog, err)
		}
		label := fmt.Sprintf("backlog of %s, %d delivered (%d in the pipeline)", countLabel(backlog), run.delivered, run.loaded.InFlight)
		peak := Row{Name: "sink heap peak, " + label, Value: Quantity{Value: float64(run.loaded.PeakHeapBytes), Unit: Bytes},
			Versus: fmt.Sprintf("when subscribed, before any message: %s", Quantity{Value: float64(run.ready.PeakHeapBytes), Unit: Bytes})}
		live := Row{Name: "sink live heap after GC, " + label, Value: Quantity{Value: float64(run.loaded.LiveHeapBytes), Unit: Bytes},
			Versus: fmt.Sprintf("when subscribed, before any message: %s", Quantity{Value: float64(run.ready.LiveHeapBytes), Unit: Bytes})}
		if i == 0 {
			first = run
		} else {
			smallest := fmt.Sprintf("backlog of %s: ", countLabel(first.backlog))
			peak.Versus = smallest + Quantity{Value: float64(first.loaded.PeakHeapBytes), Unit: Bytes}.String()
			peak.Ratio = ratio(float64(run.loaded.PeakHeapBytes), float64(first.loaded.PeakHeapBytes))
			peak.Target = "≤ 1.25× the smallest backlog's"
			peak.Verdict = verdict(float64(run.loaded.PeakHeapBytes) <= 1.25*float64(first.loaded.PeakHeapBytes))
			live.Versus = smallest + Quantity{Value: float64(first.loaded.LiveHeapBytes), Unit: Bytes}.String()
			live.Ratio = ratio(float64(run.loaded.LiveHeapBytes), float64(first.loaded.LiveHeapBytes))
			live.Target = "≤ 1.25× the smallest backlog's"
			live.Verdict = verdict(float64(run.loaded.LiveHeapBytes) <= 1.25*float64(first.loaded.LiveHeapBytes))
		}
		sec.Rows = append(sec.Rows, peak, live)
	}
	return nil
}

// countLabel writes a message count the short way: 999, 100k, 1M, 1.5M.
func countLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1_000 && n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}
