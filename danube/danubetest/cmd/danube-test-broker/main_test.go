package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
)

var (
	buildOnce sync.Once
	binDir    string // removed by TestMain
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// program returns the path of the command, built once per test run.
func program(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", programName+"-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, programName)
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freeAddr returns an address of 127.0.0.1 that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// readURLs reads the two lines the broker prints once it accepts calls
// and returns the value of each variable.
func readURLs(stdout io.Reader) (map[string]string, error) {
	urls := map[string]string{}
	scanner := bufio.NewScanner(stdout)
	for len(urls) < 2 && scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), "=")
		if !ok {
			return nil, fmt.Errorf("stdout line %q is not NAME=value", scanner.Text())
		}
		urls[name] = value
	}
	if len(urls) < 2 {
		return nil, fmt.Errorf("stdout ended after %d of 2 lines: %v", len(urls), scanner.Err())
	}
	return urls, nil
}

func TestBrokerServesAndStopsOnSIGTERM(t *testing.T) {
	addr, adminAddr := freeAddr(t), freeAddr(t)
	const topic = "/shop/orders"

	cmd := exec.Command(program(t), "-addr", addr, "-admin-addr", adminAddr, "-topics", topic)
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The test waits for the process only after reading its URLs, because
	// Wait closes the stdout pipe. Until then, cleanup waits by itself.
	var waitErr error
	exited := make(chan struct{}) // closed once Wait has returned
	waiting := false
	t.Cleanup(func() {
		cmd.Process.Kill()
		if waiting {
			<-exited
		} else {
			cmd.Wait()
		}
	})

	type readResult struct {
		urls map[string]string
		err  error
	}
	urlsRead := make(chan readResult, 1)
	go func() {
		urls, err := readURLs(stdout)
		urlsRead <- readResult{urls, err}
	}()
	var urls map[string]string
	select {
	case r := <-urlsRead:
		if r.err != nil {
			t.Fatalf("read the URLs: %v; stderr:\n%s", r.err, stderr)
		}
		urls = r.urls
	case <-time.After(30 * time.Second):
		t.Fatalf("the broker printed no URLs within 30 s; stderr:\n%s", stderr)
	}
	waiting = true
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	if got, want := urls["DANUBE_SERVICE_URL"], "http://"+addr; got != want {
		t.Errorf("DANUBE_SERVICE_URL = %q, want %q", got, want)
	}
	if got, want := urls["DANUBE_ADMIN_URL"], "http://"+adminAddr; got != want {
		t.Errorf("DANUBE_ADMIN_URL = %q, want %q", got, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The topic of -topics exists, in a namespace the broker did not have.
	admin, err := danube.NewAdmin("http://" + adminAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The admin port returns NOT_FOUND for any refused creation, as the
	// broker does; the message says why.
	err = admin.CreateTopic(ctx, topic, danube.TopicOptions{Reliable: true})
	if !errors.Is(err, danube.ErrNotFound) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateTopic(%s) error = %v, want NOT_FOUND saying it already exists because -topics created it", topic, err)
	}

	client, err := danube.NewClient("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: topic, Subscription: "test"})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	if err := producer.Send(ctx, danube.Message{Payload: []byte(`{"order":1}`)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg, err := consumer.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if string(msg.Payload) != `{"order":1}` {
		t.Errorf("received payload %q, want %q", msg.Payload, `{"order":1}`)
	}
	if err := consumer.Ack(ctx, msg); err != nil {
		t.Errorf("Ack: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("after SIGTERM the broker exited with %v, want status 0; stderr:\n%s", waitErr, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the broker did not exit within 30 s of SIGTERM; stderr:\n%s", stderr)
	}
}

func TestBrokerOnTakenPortExitsOne(t *testing.T) {
	occupier, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupier.Close()

	cmd := exec.Command(program(t), "-addr", occupier.Addr().String(), "-admin-addr", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailure {
		t.Fatalf("on a taken port the broker returned %v, want exit status %d; output:\n%s", err, exitFailure, out)
	}
	if !strings.Contains(string(out), occupier.Addr().String()) {
		t.Errorf("output does not name the taken address %s:\n%s", occupier.Addr(), out)
	}
}

func TestRunRejectsInvalidCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"-topics", "orders"},
		{"-topics", "/default/orders/extra"},
		{"-no-such-flag"},
		{"extra-argument"},
		{"-topics", "/default/a b"},
		{"-window", "0"},
		{"-window", "10001"},
		{"-addr", "127.0.0.1"},
		{"-admin-addr", "0.0.0.0:50051"},
		{"-addr", "[::%lo]:6650"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitInvalidCLI {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", args, code, exitInvalidCLI, stderr.String())
		}
	}
}

func TestRunHelpWritesFlagsToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("run(-help) = %d, want %d", code, exitOK)
	}
	for _, want := range []string{"-addr", "-admin-addr", "-topics", "production broker"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help does not contain %q:\n%s", want, stdout.String())
		}
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("run = %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "DANUBE_SERVICE_URL=http://127.0.0.1:") {
		t.Errorf("stdout = %q, want the service URL first", stdout.String())
	}
}

func TestRunCreatesTopicListedTwiceOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-topics", "/default/orders, /default/orders"}
	if code := run(ctx, args, &stdout, &stderr); code != exitOK {
		t.Fatalf("run = %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	if n := strings.Count(stderr.String(), "topic created"); n != 1 {
		t.Errorf("%d topics created, want 1; stderr:\n%s", n, stderr.String())
	}
}
