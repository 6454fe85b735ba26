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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
)

// sampleFile is the file of sample documents, in the data directory of
// package testdata.
const sampleFile = "accounts.ejson"

func main() {
	if spec, ok := os.LookupEnv(envStalledSink); ok {
		os.Exit(runStalledSink(spec))
	}
	os.Exit(runMain(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the program with args and returns its exit status: 0 when
// every selected section was measured, 1 when one failed, 2 for bad flags.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, cleanup := resolveEnv(cfg, log)
	defer cleanup()
	report := run(ctx, cfg, env, commandLine(args), log)

	if cfg.Out == "" {
		err = report.WriteMarkdown(stdout)
	} else {
		err = writeReport(cfg.Out, report)
	}
	if err != nil {
		fmt.Fprintf(stderr, "write the report: %v\n", err)
		return 1
	}
	if report.Failed() {
		return 1
	}
	return 0
}

// resolveEnv finds the MongoDB server and the sample documents when the
// MongoDB section runs. What cannot be found is logged and left empty,
// and the section then fails naming it. The returned function stops what
// was started.
func resolveEnv(cfg Config, log *slog.Logger) (Env, func()) {
	var env Env
	if !cfg.runs("mongodb") {
		return env, func() {}
	}

	var cleanups []func()
	env.MongoURI, env.MongoSource = cfg.MongoURI, "given with -mongodb-uri or MONGODB_URI"
	if env.MongoURI == "" {
		env.MongoSource = "the embedded server, started by the run"
		log.Info("starting the embedded MongoDB server (FerretDB); set -mongodb-uri to use another")
		srv, err := mongotest.StartEmbedded("")
		if err != nil {
			log.Error("no MongoDB server", "error", err)
		} else {
			env.MongoURI = srv.URI()
			cleanups = append(cleanups, func() { _ = srv.Stop() })
		}
	}
	if dir, err := testdata.Find(); err != nil {
		log.Error("no sample documents", "file", sampleFile, "error", err)
	} else if env.Samples, err = testdata.ReadLines(filepath.Join(dir, sampleFile)); err != nil {
		log.Error("no sample documents", "file", sampleFile, "error", err)
	}

	return env, func() {
		for _, c := range cleanups {
			c()
		}
	}
}

// commandLine returns the command that reproduces this run from the
// repository's root, with the password of a connection string replaced.
func commandLine(args []string) string {
	parts := []string{"go run ./internal/benchsuite"}
	for _, a := range args {
		if name, value, ok := strings.Cut(a, "="); ok && strings.Contains(value, "://") {
			a = name + "=" + mongotest.Redact(value)
		} else if strings.Contains(a, "://") {
			a = mongotest.Redact(a)
		}
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
