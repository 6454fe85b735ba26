package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildSinkProgram builds the sink program of ./sinkproc into dir and
// returns its path. The program is built without the race detector
// unless race is set: it is an ordinary process beside the test.
func buildSinkProgram(t *testing.T, dir string, race bool) string {
	t.Helper()

	out := filepath.Join(dir, "sinkproc")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./sinkproc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	// Test flags such as -race must not leak into the build through
	// GOFLAGS.
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, output)
	}
	return out
}

// sinkProcess is one run of the sink program, from its start to its exit.
type sinkProcess struct {
	incarnation int
	cmd         *exec.Cmd
	logPath     string

	listening chan string   // receives the operations address, once
	exited    chan struct{} // closed once the process has exited and its output is read
	exitCode  int           // valid after exited; 128+N after signal N
	signalled bool          // set by the harness before it stops the process on purpose
}

// faultEvents counts the fault lines of every sink process, by kind, and
// the slow operations they report, by name.
type faultEvents struct {
	mu     sync.Mutex
	counts map[string]int
	slow   map[string]slowStat
}

// slowStat sums up the slow operations of one name.
type slowStat struct {
	count, failed int
	max           time.Duration
}

func (e *faultEvents) addSlow(op string, took time.Duration, failed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.slow == nil {
		e.slow = map[string]slowStat{}
	}
	s := e.slow[op]
	s.count++
	if failed {
		s.failed++
	}
	s.max = max(s.max, took)
	e.slow[op] = s
}

func (e *faultEvents) slowSnapshot() map[string]slowStat {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]slowStat, len(e.slow))
	for k, v := range e.slow {
		out[k] = v
	}
	return out
}

func (e *faultEvents) add(kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	e.counts[kind]++
}

func (e *faultEvents) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.counts))
	for k, v := range e.counts {
		out[k] = v
	}
	return out
}

// startSinkProcess starts the program at path with exactly env, its
// standard error in a log file of dir. A goroutine reads its standard
// output, counts the fault lines into events and passes the operations
// address on. That goroutine waits for the process and ends when the
// process exits.
func startSinkProcess(path, dir string, incarnation int, env []string, events *faultEvents) (*sinkProcess, error) {
	p := &sinkProcess{
		incarnation: incarnation,
		logPath:     filepath.Join(dir, fmt.Sprintf("sink-%02d.log", incarnation)),
		listening:   make(chan string, 1),
		exited:      make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor

	p.cmd = exec.Command(path)
	p.cmd.Env = env
	p.cmd.Stderr = logFile
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the sink program: %w", err)
	}

	go func() {
		defer close(p.exited)
		p.readEvents(stdout, events)
		err := p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && err != nil && ws.Signaled() {
			p.exitCode = 128 + int(ws.Signal())
		}
	}()
	return p, nil
}

// readEvents reads the program's standard output until it closes.
func (p *sinkProcess) readEvents(stdout io.Reader, events *faultEvents) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "soak:" {
			continue
		}
		switch fields[1] {
		case "listening":
			select {
			case p.listening <- fields[2]:
			default:
			}
		case "fault":
			events.add(fields[2])
		case "slow":
			if len(fields) < 5 {
				continue
			}
			ms, err := strconv.ParseInt(fields[3], 10, 64)
			if err != nil {
				continue
			}
			events.addSlow(fields[2], time.Duration(ms)*time.Millisecond, fields[4] == "failed")
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
}

// running reports whether the process has not exited.
func (p *sinkProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// awaitListening returns the address of the operations endpoints once
// the process prints it, or an error if the process exits first or the
// deadline passes.
func (p *sinkProcess) awaitListening(deadline time.Time) (string, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case addr := <-p.listening:
		return addr, nil
	case <-p.exited:
		return "", fmt.Errorf("sink process %d exited with status %d before it listened", p.incarnation, p.exitCode)
	case <-timer.C:
		return "", fmt.Errorf("sink process %d did not listen within its deadline", p.incarnation)
	}
}

// signal sends sig, marking the stop as intended.
func (p *sinkProcess) signal(sig syscall.Signal) error {
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL {
		p.signalled = true
	}
	return p.cmd.Process.Signal(sig)
}

// awaitExit waits until the process has exited and returns its status,
// or an error when it is still running after within.
func (p *sinkProcess) awaitExit(within time.Duration) (int, error) {
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.exitCode, nil
	case <-timer.C:
		return 0, fmt.Errorf("sink process %d still running %v after it was told to stop", p.incarnation, within)
	}
}

// kill stops the process at once if it still runs and waits for it. It
// is the cleanup of last resort.
func (p *sinkProcess) kill() {
	if p.running() {
		p.signalled = true
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// logTail returns the last n bytes of the process's log.
func (p *sinkProcess) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// metricsSample is what one scrape of a sink process's /metrics found.
type metricsSample struct {
	heapAlloc uint64 // go_memstats_heap_alloc_bytes
	rss       uint64 // process_resident_memory_bytes
}

// scrapeMetrics reads the heap and resident memory of the process whose
// operations endpoints listen on addr.
func scrapeMetrics(ctx context.Context, client *http.Client, addr string) (metricsSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return metricsSample{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return metricsSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsSample{}, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}

	var s metricsSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *uint64
		switch name {
		case "go_memstats_heap_alloc_bytes":
			dst = &s.heapAlloc
		case "process_resident_memory_bytes":
			dst = &s.rss
		default:
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return metricsSample{}, fmt.Errorf("parse %s %q: %w", name, value, err)
		}
		*dst = uint64(f)
	}
	if err := sc.Err(); err != nil {
		return metricsSample{}, err
	}
	if s.heapAlloc == 0 {
		return metricsSample{}, fmt.Errorf("GET /metrics: no go_memstats_heap_alloc_bytes")
	}
	return s, nil
}

// readyz reports whether GET /readyz of the process at addr returns 200.
func readyz(ctx context.Context, client *http.Client, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}
