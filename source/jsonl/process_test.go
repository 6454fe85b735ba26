package jsonl_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// The process tests run the command danube-source-jsonl, built once per
// test binary, against a broker in the test process. They wait in real
// time, polling at pollEvery, because the program under test is another
// process with its own clock.
const (
	programPackage = "github.com/danube-messaging/danube-connect-go/source/jsonl/cmd/danube-source-jsonl"
	pollEvery      = 2 * time.Millisecond
	processTopic   = "/default/lines"
)

var (
	buildOnce sync.Once
	binDir    string // removed by TestMain
	binPath   string
	buildErr  error
)

// program returns the path of the built command.
func program(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "danube-source-jsonl-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "danube-source-jsonl")
		out, err := exec.Command("go", "build", "-o", binPath, programPackage).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", programPackage, err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer is a buffer that a process writes to while the test reads
// it.
type syncBuffer struct {
	syncbuf.Buffer
}

func (b *syncBuffer) contains(s string) bool {
	return strings.Contains(b.String(), s)
}

// process is one run of the command.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // what Wait returned, once done is closed
}

// freePort returns a TCP port that was free a moment ago, for the
// process's metrics endpoint.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs the command against b with the input file input and
// the settings in extra, which override the defaults of these tests.
func startProcess(t *testing.T, b *danubetest.Broker, input string, extra ...string) *process {
	t.Helper()
	env := map[string]string{
		"DANUBE_SERVICE_URL":     b.URL(),
		"DANUBE_TOPIC":           processTopic,
		"CONNECTOR_NAME":         "lines",
		"JSONL_FILE":             input,
		"METRICS_PORT":           strconv.Itoa(freePort(t)),
		"LOG_LEVEL":              "info",
		"POLL_INTERVAL_MS":       "5",
		"CHECKPOINT_INTERVAL_MS": "20",
		"CHECKPOINT_EVERY":       "50",
		"BATCH_SIZE":             "32",
		"DRAIN_TIMEOUT_MS":       "10000",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	cmd := exec.Command(program(t))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// code, -1 when a signal killed it.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v; output:\n%s", timeout, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitUntil polls cond until it holds, failing the test after timeout or
// when p exits first.
func waitUntil(t *testing.T, p *process, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if p != nil && p.exited() {
			t.Fatalf("process exited (%v) while waiting for %s; output:\n%s", p.err, what, p.out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// inputLine returns line n of the generated input, without its newline.
func inputLine(n int) string {
	return fmt.Sprintf(`{"n":%d,"text":"line %d of the input file"}`, n, n)
}

// appendLines appends lines from to to-1 to the file at path.
func appendLines(t testing.TB, path string, from, to int) {
	t.Helper()
	var b bytes.Buffer
	for n := from; n < to; n++ {
		b.WriteString(inputLine(n))
		b.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// storedCount returns the number of messages stored on the topic,
// duplicates included.
func storedCount(b *danubetest.Broker) int { return len(b.Messages(processTopic)) }

// lineCounts returns how many times each payload is stored on the topic.
func lineCounts(b *danubetest.Broker) map[string]int {
	counts := make(map[string]int)
	for _, m := range b.Messages(processTopic) {
		counts[string(m.Payload)]++
	}
	return counts
}

// readCheckpoint returns the position in the checkpoint file of input.
func readCheckpoint(t *testing.T, input string) jsonl.Position {
	t.Helper()
	p, ok, err := jsonl.ReadCheckpointFile(input + jsonl.CheckpointSuffix)
	if err != nil || !ok {
		t.Fatalf("checkpoint file: %+v, %v, %v", p, ok, err)
	}
	return p
}

// offsetAfter returns the byte offset just after line n-1 of the
// generated input, where line n starts.
func offsetAfter(n int) int64 {
	var off int64
	for i := range n {
		off += int64(len(inputLine(i)) + 1)
	}
	return off
}

// readCheckpointFile reads the checkpoint file of input, which may not
// exist yet.
func readCheckpointFile(input string) (jsonl.Position, bool, error) {
	return jsonl.ReadCheckpointFile(input + jsonl.CheckpointSuffix)
}
