// Command demo runs the MongoDB sink end to end inside one process, with
// nothing to install. It starts an in-process Danube broker and an
// embedded MongoDB-compatible server (FerretDB on SQLite, in a temporary
// directory), then publishes generated e-commerce orders that the sink
// runtime, with the MongoDB connector, writes to the server.
//
//	go run -C embedded ./cmd/demo            # 30,000 orders
//	go run -C embedded ./cmd/demo -events 5000 -invalid 10
//
// It prints a progress line a second, then a summary: the documents
// written, the duration and throughput, the records dead-lettered, and one
// stored document. It exits 0 when every order was written once and
// every invalid event dead-lettered.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// demoFlags are the demo's flags.
type demoFlags struct {
	events   int
	invalid  int
	seed     uint64
	batch    int
	progress time.Duration
	verbose  bool
}

// run parses args and runs the demo, with its progress and summary on
// stdout and its errors on stderr. It returns the exit status: 0 when
// every order was written and every invalid event dead-lettered, 1
// otherwise, and 2 for invalid flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var o demoFlags
	flags.IntVar(&o.events, "events", 30_000, "number of generated orders to publish")
	flags.IntVar(&o.invalid, "invalid", 3, "number of invalid events mixed in, which the sink sends to the dead-letter topic")
	flags.Uint64Var(&o.seed, "seed", 1, "seed of the order generator: the same seed publishes the same orders")
	flags.IntVar(&o.batch, "batch", 1000, "the sink's BATCH_SIZE: the most documents one bulk write carries")
	flags.DurationVar(&o.progress, "progress", time.Second, "interval between two progress lines")
	flags.BoolVar(&o.verbose, "v", false, "log the sink's start, stop and retries to standard error")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "Usage: go run -C embedded ./cmd/demo [flags]\n\n"+
			"Publishes generated orders through an in-process Danube broker and writes them to an\n"+
			"embedded MongoDB-compatible server with the MongoDB sink, then prints a summary.\n\nFlags:\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}

	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	res, err := runDemo(ctx, o, stdout, logger)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	res.print(stdout)
	if problem := res.check(); problem != "" {
		fmt.Fprintf(stderr, "demo: %s\n", problem)
		return 1
	}
	return 0
}

// check returns an error naming the first invalid flag.
func (o demoFlags) check() error {
	switch {
	case o.events < 1:
		return fmt.Errorf("-events %d: must be at least 1", o.events)
	case o.invalid < 0:
		return fmt.Errorf("-invalid %d: must not be negative", o.invalid)
	case o.batch < 1 || o.batch > 100_000:
		return fmt.Errorf("-batch %d: must be from 1 to 100000", o.batch)
	case o.progress <= 0:
		return fmt.Errorf("-progress %v: must be positive", o.progress)
	}
	return nil
}
