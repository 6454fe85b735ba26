package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// helperEnv names the environment variable that turns the test binary
// into a sink process for the signal tests. Its value is the mode of the
// process's connector: "write" writes every batch, and "hang" blocks in
// Write until its context ends.
const helperEnv = "SINK_TEST_HELPER"

// helperMain is the main function of the sink process: a connector
// binary as a user would write one, configured from the environment. It
// prints one line per record written ("written <offset>"), "blocked" when
// a Write blocks, and the runtime's counters at the end.
func helperMain(mode string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := LoadConfig("")
	if err != nil {
		log.Error("invalid configuration", "error", err)
		return ExitCode(err)
	}
	conn := &helperConn{mode: mode}
	rt, err := New(conn, cfg, Options{Logger: log})
	if err != nil {
		log.Error("new runtime", "error", err)
		return ExitCode(err)
	}

	err = rt.RunWithSignals(context.Background())
	for _, st := range rt.Stats() {
		fmt.Printf("stats in_flight=%d acked=%d nacked=%d\n", st.InFlight, st.Acked, st.Nacked)
	}
	if err != nil {
		log.Error("sink stopped", "error", err)
	}
	return ExitCode(err)
}

// helperConn is the connector of the sink process.
type helperConn struct {
	mode string
	mu   sync.Mutex
}

func (c *helperConn) Open(context.Context) error   { return nil }
func (c *helperConn) Close(context.Context) error  { return nil }
func (c *helperConn) Health(context.Context) error { return nil }

func (c *helperConn) Write(ctx context.Context, batch []*Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == "hang" {
		fmt.Println("blocked")
		<-ctx.Done()
		return Retryable(context.Cause(ctx))
	}
	var b strings.Builder
	for _, r := range batch {
		fmt.Fprintf(&b, "written %d\n", r.Offset)
	}
	fmt.Print(b.String())
	return nil
}

// lockedBuffer collects the process's stderr, safe to read while the
// process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer contains s.
func (b *lockedBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never showed %q:\n%s", s, b.String())
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, not timing one
	}
}

// sinkProcess is the sink process, with what it printed.
type sinkProcess struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr *lockedBuffer

	mu      sync.Mutex
	written []uint64
	stats   []string
}

func startSinkProcess(t *testing.T, mode string, env map[string]string) *sinkProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &sinkProcess{cmd: cmd, lines: make(chan string, 1024), stderr: new(lockedBuffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the sink process: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			switch {
			case strings.HasPrefix(line, "written "):
				n, _ := strconv.ParseUint(strings.TrimPrefix(line, "written "), 10, 64)
				p.written = append(p.written, n)
			case strings.HasPrefix(line, "stats "):
				p.stats = append(p.stats, line)
			}
			p.mu.Unlock()
			p.lines <- line
		}
	}()
	return p
}

// waitLine waits for a line of stdout that satisfies match.
func (p *sinkProcess) waitLine(t *testing.T, what string, match func(string) bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("the sink process ended before %s; stderr:\n%s", what, p.stderr)
			}
			if match(line) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s; stderr:\n%s", what, p.stderr)
		}
	}
}

// exit waits for the process to end and returns its exit code.
func (p *sinkProcess) exit(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for range p.lines { // keep reading until stdout closes
		}
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("wait for the sink process: %v", err)
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitLimit):
		t.Fatalf("the sink process did not exit; stderr:\n%s", p.stderr)
		return -1
	}
}

func (p *sinkProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal the sink process: %v", err)
	}
}

func danubeTestClock() danubetest.Option { return danubetest.WithClock(newFakeClock()) }

func danubeProducerOptions(topic string) danube.ProducerOptions {
	return danube.ProducerOptions{Topic: topic, Reliable: true}
}

func danubeMessage(i int) danube.Message {
	return danube.Message{Payload: fmt.Appendf(nil, "m-%d", i)}
}

func processEnv(e *env, extra map[string]string) map[string]string {
	m := map[string]string{
		"DANUBE_SERVICE_URL": e.broker.URL(),
		"CONNECTOR_NAME":     "signal-sink",
		"DANUBE_TOPIC":       testTopic,
		"SUBSCRIPTION_NAME":  testSub,
		"CONSUMER_NAME":      testConsumer,
		"BATCH_SIZE":         "1000",
		"METRICS_PORT":       "9090",
		"LOG_LEVEL":          "info",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 100)
	proc := startSinkProcess(t, "write", processEnv(e, map[string]string{"DRAIN_TIMEOUT_MS": "20000"}))
	e.waitConsumer(testTopic, testSub)

	// Publish without pause while the sink consumes, and stop it midway.
	ctx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan int, 1)
	go func() {
		p, err := e.client.NewProducer(ctx, danubeProducerOptions(testTopic))
		if err != nil {
			published <- 0
			return
		}
		defer p.Close()
		n := 0
		for ctx.Err() == nil {
			if p.Send(ctx, danubeMessage(n)) == nil {
				n++
			}
		}
		published <- n
	}()
	proc.waitLine(t, "50 records written", func(string) bool {
		proc.mu.Lock()
		defer proc.mu.Unlock()
		return len(proc.written) >= 50
	})
	proc.signal(t, syscall.SIGTERM)
	code := proc.exit(t)
	stopPublishing()
	total := <-published

	if code != 0 {
		t.Fatalf("exit code %d, want 0 after a drain; stderr:\n%s", code, proc.stderr)
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if len(proc.stats) != 1 || !strings.HasPrefix(proc.stats[0], "stats in_flight=0 ") {
		t.Errorf("final counters %q, want nothing in flight", proc.stats)
	}
	written := make(map[uint64]bool, len(proc.written))
	for _, o := range proc.written {
		if written[o] {
			t.Errorf("offset %d written twice", o)
		}
		written[o] = true
	}

	st, _ := e.broker.Subscription(testTopic, testSub)
	pending := make(map[uint64]bool)
	for _, p := range st.Pending {
		pending[p.Offset] = true
		if written[p.Offset] {
			t.Errorf("offset %d was written but is not acked", p.Offset)
		}
	}
	for o := int64(0); o <= st.Cursor; o++ {
		if !written[uint64(o)] {
			t.Errorf("offset %d is acked but was never written", o)
		}
	}
	for o := range written {
		if int64(o) > st.Cursor && pending[o] {
			t.Errorf("offset %d written but pending", o)
		}
	}
	if len(written) < 50 || len(written) > total {
		t.Errorf("%d records written of %d published, want at least 50", len(written), total)
	}
	t.Logf("published %d, written %d, cursor %d, pending %d", total, len(written), st.Cursor, len(st.Pending))
}

func TestSecondSignalForcesStop(t *testing.T) {
	e := newEnv(t, danubeTestClock())
	e.subscribeWithDelay(testTopic, testSub, 100, time.Hour)
	proc := startSinkProcess(t, "hang", processEnv(e, map[string]string{"DRAIN_TIMEOUT_MS": "600000"}))
	e.waitConsumer(testTopic, testSub)
	e.publish(testTopic, "m", 5)

	proc.waitLine(t, "a blocked write", func(line string) bool { return line == "blocked" })
	proc.signal(t, syscall.SIGTERM)
	// The drain waits for the blocked write, with a deadline of ten
	// minutes, so only the second signal can end it within the test.
	// Waiting for the first signal's log line keeps the two signals from
	// merging into one.
	proc.stderr.waitFor(t, "stopping")
	proc.signal(t, syscall.SIGTERM)
	code := proc.exit(t)

	if want := 128 + int(syscall.SIGTERM); code != want {
		t.Fatalf("exit code %d, want %d after a forced stop; stderr:\n%s", code, want, proc.stderr)
	}
	if !strings.Contains(proc.stderr.String(), "second signal") {
		t.Errorf("stderr does not report the second signal:\n%s", proc.stderr)
	}
	proc.mu.Lock()
	stats := proc.stats
	proc.mu.Unlock()
	if len(stats) != 1 || !strings.HasPrefix(stats[0], "stats in_flight=0 acked=0 ") {
		t.Errorf("final counters %q, want none in flight and none acked", stats)
	}
	// The blocked batch is nacked by the forced stop; what came after the
	// drain began never entered the pipeline and is nacked as left over.
	pending := e.pending(testTopic, testSub)
	if len(pending) != 5 {
		t.Fatalf("pending %+v, want the 5 messages", pending)
	}
	forced := 0
	for _, p := range pending {
		if p.Status != "waiting_to_retry" || p.Reason == "" {
			t.Errorf("offset %d: status %s, reason %q; want it nacked", p.Offset, p.Status, p.Reason)
		}
		if strings.Contains(p.Reason, "forced") {
			forced++
		}
	}
	if forced == 0 {
		t.Errorf("no message nacked by the forced stop: %+v", pending)
	}
}
