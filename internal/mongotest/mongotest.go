// Package mongotest gives tests a MongoDB server: the one named by the
// MONGODB_URI environment variable when it is set, otherwise the embedded
// FerretDB server of the repository's embedded module, built on first use
// and started as a child process.
//
// The embedded server runs in a process of its own because the library's
// module must not depend on FerretDB. The child process exits when its
// standard input closes, so it never outlives the test binary.
package mongotest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the environment variable that points the tests at a real
// MongoDB server instead of the embedded one.
const EnvURI = "MONGODB_URI"

// EnvVerbose names the environment variable that, set to 1, lets the
// embedded server write its warnings to the test's standard error. They
// are off by default because FerretDB warns about routine commands, such
// as endSessions, that it does not implement.
const EnvVerbose = "MONGOTEST_VERBOSE"

// Real reports whether the tests run against a real MongoDB (MONGODB_URI is
// set) rather than the embedded FerretDB server. Tests use it where the two
// behave differently.
func Real() bool { return os.Getenv(EnvURI) != "" }

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// URI returns the connection string of the server that the tests of this
// process share. The embedded server is started on first use and stays up
// until the test binary exits. A test that cannot get a server fails; it is
// never skipped.
func URI(t testing.TB) string {
	t.Helper()

	if uri := os.Getenv(EnvURI); uri != "" {
		return uri
	}

	uri, err := SharedURI()
	if err != nil {
		t.Fatalf("start embedded MongoDB server: %v", err)
	}
	return uri
}

// SharedURI is URI for code without a testing.TB, such as a TestMain, an
// Example or a benchmark program: it returns MONGODB_URI when set, and
// otherwise starts the process's shared embedded server on first use.
func SharedURI() (string, error) {
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri, nil
	}
	shared.once.Do(func() {
		shared.srv, shared.err = startEmbedded("")
	})
	if shared.err != nil {
		return "", shared.err
	}
	return shared.srv.URI(), nil
}

// Database returns a database with a name unique to the test, on the shared
// server, and drops it when the test ends. The client is disconnected then.
func Database(t testing.TB) *mongo.Database {
	t.Helper()

	client := Connect(t, URI(t))
	name := DatabaseName(t)
	db := client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return db
}

// DatabaseName returns a database name derived from the test name, within
// MongoDB's 63-byte limit and free of the characters it forbids.
func DatabaseName(t testing.TB) string {
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	suffix := fmt.Sprintf("_%d", time.Now().UnixNano()%1e9)
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}

// Connect opens a client to uri and disconnects it when the test ends.
func Connect(t testing.TB, uri string) *mongo.Client {
	t.Helper()

	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", Redact(uri), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			t.Logf("disconnect from %s: %v", Redact(uri), err)
		}
	})
	return client
}

// Redact returns uri with its password replaced, for test output.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "<unparsable connection string>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}

// Server is an embedded server in a child process that a test controls:
// it can be stopped and started again on the same data.
type Server struct {
	dir   string
	uri   string
	cmd   *exec.Cmd
	stdin io.Closer
}

// StartServer starts an embedded server of the test's own, keeping its data
// in dir (a new temporary directory when dir is empty), and stops it when
// the test ends. It fails the test when MONGODB_URI is set, because a real
// server cannot be stopped and restarted by the test.
func StartServer(t testing.TB, dir string) *Server {
	t.Helper()

	if Real() {
		t.Fatalf("this test stops and restarts its MongoDB server, which it can do only with the embedded server; unset %s", EnvURI)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	srv, err := StartEmbedded(dir)
	if err != nil {
		t.Fatalf("start embedded MongoDB server: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// StartEmbedded is StartServer for code without a testing.TB: it starts
// an embedded server of the caller's own on dir (a temporary directory of
// the server's when empty, so that Restart starts with no data). The
// caller stops it.
func StartEmbedded(dir string) (*Server, error) {
	return startEmbedded(dir)
}

// URI returns the connection string of the running server.
func (s *Server) URI() string { return s.uri }

// Dir returns the directory that holds the server's data, or "" for the
// shared server, whose data is temporary.
func (s *Server) Dir() string { return s.dir }

// Stop stops the server gracefully and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.stdin.Close()
	err := s.cmd.Wait()
	s.cmd = nil
	return err
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.stdin.Close()
	s.cmd.Wait()
	s.cmd = nil
	return nil
}

// Restart starts the server again on the same data and address. The
// address is kept so that clients configured with the old URI reconnect.
func (s *Server) Restart() error {
	if s.cmd != nil {
		return fmt.Errorf("restart embedded MongoDB server: still running")
	}
	u, err := url.Parse(s.uri)
	if err != nil {
		return err
	}
	next, err := startProcess(s.dir, u.Host)
	if err != nil {
		return err
	}
	*s = *next
	return nil
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// serverBinary builds the embedded module's ferret-server command once per
// test process. Go's build cache makes every build after the first a link
// step of about a second.
func serverBinary() (string, error) {
	binary.once.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			binary.err = fmt.Errorf("locate the embedded module: no caller information")
			return
		}
		moduleDir := filepath.Join(filepath.Dir(file), "..", "..", "embedded")
		outDir, err := os.MkdirTemp("", "mongotest-")
		if err != nil {
			binary.err = err
			return
		}
		out := filepath.Join(outDir, "ferret-server")

		cmd := exec.Command("go", "build", "-o", out, "./cmd/ferret-server")
		cmd.Dir = moduleDir
		// The server must not inherit the race detector or test flags of
		// the test binary's build: it is an ordinary program.
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if output, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("build %s/cmd/ferret-server: %w\n%s", moduleDir, err, output)
			return
		}
		binary.path = out
	})
	return binary.path, binary.err
}

func startEmbedded(dir string) (*Server, error) {
	return startProcess(dir, "127.0.0.1:0")
}

func startProcess(dir, addr string) (*Server, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}

	args := []string{"-dir", dir, "-addr", addr}
	if os.Getenv(EnvVerbose) == "1" {
		args = append(args, "-v")
	}
	cmd := exec.Command(bin, args...)
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
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("read the connection string of %s: %w", bin, err)
	}
	return &Server{dir: dir, uri: strings.TrimSpace(line), cmd: cmd, stdin: stdin}, nil
}
