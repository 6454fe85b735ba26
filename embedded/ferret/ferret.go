// Package ferret runs FerretDB, a MongoDB wire-protocol server, inside the
// current process on top of SQLite files in a directory. It stands in for a
// real MongoDB in tests and in the demo, because nothing has to be installed.
//
// It lives in a module of its own so that the library's go.mod never lists
// FerretDB and its dependencies.
//
// FerretDB 1.24 differs from MongoDB in ways that matter to a sink: it
// closes the connection on Decimal128 values and on unacknowledged writes
// (w:0), it accepts documents over 16 MiB, and it has no transactions, change
// streams, time-series or TTL collections.
package ferret

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Options configures a Server. The zero value listens on a free port of
// 127.0.0.1 and stores its data in a new temporary directory that Stop
// removes.
type Options struct {
	// Dir is the directory of the SQLite files. A server started again on
	// the same Dir sees the data of the previous one. Empty means a new
	// temporary directory, removed by Stop.
	Dir string

	// Addr is the TCP address to listen on, "127.0.0.1:0" when empty.
	Addr string

	// Logger receives FerretDB's own log. Nil discards it.
	Logger *slog.Logger
}

// Server is a running FerretDB instance.
type Server struct {
	uri     string
	dir     string
	tempDir bool
	cancel  context.CancelFunc
	done    chan error
}

// Start starts a server and returns once it accepts connections.
func Start(opts Options) (*Server, error) {
	dir := opts.Dir
	tempDir := false
	if dir == "" {
		d, err := os.MkdirTemp("", "ferret-")
		if err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		dir, tempDir = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory %q: %w", dir, err)
	}

	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		if tempDir {
			os.RemoveAll(abs)
		}
		return nil, fmt.Errorf("start FerretDB on %s: %w", addr, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until Run has opened the listener.
	uri := f.MongoDBURI()

	return &Server{uri: uri, dir: abs, tempDir: tempDir, cancel: cancel, done: done}, nil
}

// URI returns the connection string of the server, for example
// mongodb://127.0.0.1:41235/.
func (s *Server) URI() string { return s.uri }

// Dir returns the directory that holds the server's data.
func (s *Server) Dir() string { return s.dir }

// Stop closes the listener and every connection, waits up to timeout for
// the server to finish, and removes the data directory if Start created it.
func (s *Server) Stop(timeout time.Duration) error {
	s.cancel()

	var err error
	select {
	case err = <-s.done:
	case <-time.After(timeout):
		err = errors.New("FerretDB did not stop within " + timeout.String())
	}

	if s.tempDir {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}
