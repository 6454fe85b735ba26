package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
)

// waitLimit bounds every wait of these tests for the binary, the broker or
// the database. It is real time, a guard against a hang rather than a
// timing under test, generous for a binary built with the race detector
// on a busy machine.
const waitLimit = 2 * time.Minute

// binary is the program under test, built once per test process.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// binaryPath builds the binary on first use, with the race detector when
// the tests run with it, and returns its path.
func binaryPath(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", programName+"-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, programName)
		args := []string{"build", "-o", binary.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if binary.err != nil {
		t.Fatalf("build the binary: %v", binary.err)
	}
	return binary.path
}

// removeBinary removes what binaryPath built.
func removeBinary() {
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
}

// process is the binary running in a child process.
type process struct {
	t       *testing.T
	cmd     *exec.Cmd
	output  *syncbuf.Buffer // standard output and standard error
	exited  chan struct{}
	code    int
	opsBase string // http://127.0.0.1:PORT of the operations endpoints
}

// startBinary starts the binary with exactly the environment env, plus a
// free METRICS_PORT unless env sets one. The process is killed, if still
// running, when the test ends, and its output is logged if the test
// failed.
func startBinary(t *testing.T, env map[string]string) *process {
	t.Helper()

	if _, ok := env["METRICS_PORT"]; !ok {
		env["METRICS_PORT"] = strconv.Itoa(freePort(t))
	}
	p := &process{t: t, output: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.opsBase = "http://127.0.0.1:" + env["METRICS_PORT"]

	p.cmd = exec.Command(binaryPath(t))
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the binary: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == -1 {
			p.code = 128 + int(p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
		close(p.exited)
	}()

	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of the binary:\n%s", p.output.String())
		}
	})
	return p
}

// signal sends sig to the process.
func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit status, 128+N
// when signal N killed it.
func (p *process) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(waitLimit):
		p.t.Fatalf("the binary did not exit within %v", waitLimit)
		return -1
	}
}

// get fetches path from the operations endpoints and returns the status
// and body, status 0 when the request failed, for instance before the
// endpoints listen.
func (p *process) get(path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opsBase+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// waitStatus polls path until it returns status, failing the test if the
// process exits first or after waitLimit.
func (p *process) waitStatus(path string, status int) string {
	p.t.Helper()
	var body string
	p.waitFor(fmt.Sprintf("GET %s answers %d", path, status), func() bool {
		var got int
		got, body = p.get(path)
		return got == status
	})
	return body
}

// waitFor polls cond until it holds, failing the test if the process
// exits first or after waitLimit.
func (p *process) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-p.exited:
			p.t.Fatalf("the binary exited with status %d while waiting until %s", p.code, what)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting until %s", waitLimit, what)
		}
	}
}

// logLines returns the JSON log lines of the process whose message is msg.
func (p *process) logLines(msg string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(p.output.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"msg":"`+msg+`"`) {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// lastLog returns the attributes of the last JSON log line of the process
// whose message is msg, failing the test when there is none.
func (p *process) lastLog(msg string) map[string]any {
	p.t.Helper()
	lines := p.logLines(msg)
	if len(lines) == 0 {
		p.t.Fatalf("the binary logged no line %q", msg)
	}
	var record map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &record); err != nil {
		p.t.Fatalf("log line %q is not JSON: %v", msg, err)
	}
	return record
}

// metricSum returns the sum of the samples of the Prometheus metric name
// in text whose labels contain every one of labels, such as
// `messaging_operation_name="ack"`, and whether any sample matched.
func metricSum(text, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := cutLast(line, " ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(series, l) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// publish sends payloads to topic through the broker at url and returns
// once the broker has stored every one.
func publish(t *testing.T, url, topic string, payloads [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	client, err := danube.NewClient(url)
	if err != nil {
		t.Fatalf("danube client: %v", err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true})
	if err != nil {
		t.Fatalf("producer on %s: %v", topic, err)
	}
	defer producer.Close()

	var mu sync.Mutex
	var firstErr error
	for _, payload := range payloads {
		producer.SendAsync(ctx, danube.Message{Payload: payload}, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush the producer of %s: %v", topic, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		t.Fatalf("publish to %s: %v", topic, firstErr)
	}
}

// countDocuments returns the number of documents in coll.
func countDocuments(t *testing.T, coll *mongo.Collection) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count %s: %v", coll.Name(), err)
	}
	return n
}
