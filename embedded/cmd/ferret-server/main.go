// Command ferret-server runs the embedded MongoDB-compatible server as a
// process of its own, for tests of modules that must not import FerretDB.
//
// It prints its connection string as the first line of standard output and
// runs until it receives SIGINT or SIGTERM or, unless -watch-stdin=false,
// until standard input closes. A parent process that holds a pipe to its
// standard input, as internal/mongotest does, thus stops it by closing the
// pipe or by dying. It writes one line to standard error when it stops,
// naming the reason.
package main

import (
	"errors"
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

// programName names the program in its help and messages, in place of
// the temporary path that go run gives os.Args[0].
const programName = "ferret-server"

// stopTimeout bounds the wait for open connections when the server stops.
const stopTimeout = 10 * time.Second

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, signals))
}

// run is the program: it parses args (without the program name), starts
// the server, prints its connection string to stdout, and waits for a
// signal on signals or, with -watch-stdin, for stdin to close. It returns
// the exit status: 0 after a clean stop or -help, 1 when the server failed
// to start or to stop, and 2 for an invalid command line.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", "", "directory of the SQLite data files; empty means a temporary directory removed on exit")
	addr := flags.String("addr", "127.0.0.1:0", "TCP address to listen on")
	verbose := flags.Bool("v", false, "write FerretDB's warnings and errors to standard error")
	watchStdin := flags.Bool("watch-stdin", true,
		"stop when standard input closes; set -watch-stdin=false to run in the background, where standard input is often closed or /dev/null")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n", programName)
		fmt.Fprintf(stderr, "Runs the embedded MongoDB-compatible server (FerretDB on SQLite) and prints its\n"+
			"connection string. It stops on SIGINT or SIGTERM, and when standard input closes\n"+
			"unless -watch-stdin=false.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q; run %s -help for the flags\n", programName, flags.Arg(0), programName)
		return 2
	}

	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := ferret.Start(ferret.Options{Dir: *dir, Addr: *addr, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 1
	}
	fmt.Fprintln(stdout, srv.URI())

	// A nil channel never becomes ready, so without -watch-stdin the
	// select below waits for a signal alone.
	var stdinClosed chan struct{}
	if *watchStdin {
		stdinClosed = make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			close(stdinClosed)
		}()
	}

	select {
	case <-stdinClosed:
		fmt.Fprintf(stderr, "%s: standard input closed, stopping; run with -watch-stdin=false to keep running without it\n", programName)
	case sig := <-signals:
		fmt.Fprintf(stderr, "%s: received %s, stopping\n", programName, signalName(sig))
	}

	if err := srv.Stop(stopTimeout); err != nil {
		fmt.Fprintf(stderr, "%s: stop failed: %v\n", programName, err)
		return 1
	}
	return 0
}

// signalName returns SIGINT or SIGTERM for those signals, and the
// signal's own description for any other.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}
