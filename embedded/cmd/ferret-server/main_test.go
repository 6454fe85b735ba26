package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitLimit bounds each wait for the program. It is real time, a guard
// against a hang rather than a timing under test.
const waitLimit = 30 * time.Second

// lockedBuffer is a bytes.Buffer that run and the test can use at once.
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

// started is a run of the program in a goroutine.
type started struct {
	stdin          *io.PipeWriter
	stdout, stderr *lockedBuffer
	signals        chan os.Signal
	code           chan int
}

// start runs the program with args on a new data directory, and waits
// for it to print its connection string.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	stdinReader, stdinWriter := io.Pipe()
	s := &started{
		stdin:   stdinWriter,
		stdout:  &lockedBuffer{},
		stderr:  &lockedBuffer{},
		signals: make(chan os.Signal, 1),
		code:    make(chan int, 1),
	}
	args = append([]string{"-dir", t.TempDir()}, args...)
	go func() { s.code <- run(args, stdinReader, s.stdout, s.stderr, s.signals) }()
	t.Cleanup(func() { stdinWriter.Close() })

	deadline := time.Now().Add(waitLimit)
	for !strings.HasPrefix(s.stdout.String(), "mongodb://") {
		select {
		case code := <-s.code:
			t.Fatalf("exited %d before printing its connection string; stderr:\n%s", code, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("printed no connection string in %v; stderr:\n%s", waitLimit, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// wait returns the exit status, failing the test if run does not return.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.code:
		return code
	case <-time.After(waitLimit):
		t.Fatalf("did not stop in %v; stderr:\n%s", waitLimit, s.stderr.String())
		return -1
	}
}

func TestStopsWhenStdinCloses(t *testing.T) {
	s := start(t)

	s.stdin.Close()

	if code := s.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	want := "ferret-server: standard input closed, stopping; run with -watch-stdin=false to keep running without it\n"
	if got := s.stderr.String(); got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestStopsOnSignal(t *testing.T) {
	for _, tt := range []struct {
		sig  os.Signal
		want string
	}{
		{syscall.SIGINT, "ferret-server: received SIGINT, stopping\n"},
		{syscall.SIGTERM, "ferret-server: received SIGTERM, stopping\n"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			s := start(t)

			s.signals <- tt.sig

			if code := s.wait(t); code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			if got := s.stderr.String(); got != tt.want {
				t.Errorf("stderr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWatchStdinFalseIgnoresStdin closes standard input of a server
// started with -watch-stdin=false: it keeps running until a signal.
func TestWatchStdinFalseIgnoresStdin(t *testing.T) {
	s := start(t, "-watch-stdin=false")

	s.stdin.Close()
	select {
	case code := <-s.code:
		t.Fatalf("exited %d when standard input closed; stderr:\n%s", code, s.stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	s.signals <- syscall.SIGTERM

	if code := s.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if got, want := s.stderr.String(), "ferret-server: received SIGTERM, stopping\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestHelpNamesProgram(t *testing.T) {
	var stdout, stderr bytes.Buffer

	code := run([]string{"-help"}, strings.NewReader(""), &stdout, &stderr, nil)

	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	help := stderr.String()
	if !strings.HasPrefix(help, "Usage: ferret-server [flags]\n") {
		t.Errorf("help does not start with the program's name:\n%s", help)
	}
	if !strings.Contains(help, "-watch-stdin") {
		t.Errorf("help does not list -watch-stdin:\n%s", help)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestRejectsArgument(t *testing.T) {
	var stdout, stderr bytes.Buffer

	code := run([]string{"extra"}, strings.NewReader(""), &stdout, &stderr, nil)

	if code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if want := `ferret-server: unexpected argument "extra"`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
	}
}
