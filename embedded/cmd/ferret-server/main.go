// Command ferret-server runs the embedded MongoDB-compatible server as a
// process of its own, for tests of modules that must not import FerretDB.
//
// It prints its connection string as the first line of standard output and
// runs until standard input is closed (for example because the parent
// process died) or until it receives SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/danube-messaging/danube-connect-go/embedded/ferret"
)

func main() {
	dir := flag.String("dir", "", "directory of the SQLite data files; empty means a temporary directory removed on exit")
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on")
	verbose := flag.Bool("v", false, "write FerretDB's warnings and errors to standard error")
	flag.Parse()

	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	srv, err := ferret.Start(ferret.Options{Dir: *dir, Addr: *addr, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferret-server:", err)
		os.Exit(1)
	}
	fmt.Println(srv.URI())

	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)

	select {
	case <-stdinClosed:
	case <-signals:
	}

	if err := srv.Stop(10 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "ferret-server: stop:", err)
		os.Exit(1)
	}
}
