package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The sections of a run, in the order they are measured.
var allSections = []string{"ceilings", "stage", "supervisor", "broker", "client", "mongodb", "memory"}

// Config holds the sizes of every measurement. fullConfig and quickConfig
// give the two presets; flags override single fields.
type Config struct {
	// Quick marks the sizes of quickConfig, a smoke test whose figures
	// mean nothing. The report names its mode after it.
	Quick bool

	// UnaryDuration is how long each gRPC unary point runs.
	UnaryDuration time.Duration
	// StreamMessages go through the raw server stream.
	StreamMessages int
	// ChainMessages go through the goroutine chains, per message and
	// batched.
	ChainMessages int
	// PipelineMessages go through the stage pipeline and its hand-written
	// twin.
	PipelineMessages int
	// Repeat is how many times each CPU-bound measurement (chains,
	// pipelines, supervisor) runs; the median is reported.
	Repeat int
	// NetRepeat is how many times each measurement over loopback runs:
	// the gRPC ceilings, the broker with raw stubs and the client. The
	// median is reported with the lowest and highest run.
	NetRepeat int
	// SupervisorChildren are started and stopped by one supervisor.
	SupervisorChildren int
	// BrokerMessages go through the broker with raw stubs.
	BrokerMessages int
	// ClientMessages are published, and consumed for each window, by the
	// client.
	ClientMessages int
	// MongoDocuments are written by the MongoDB sink and by InsertMany.
	MongoDocuments int
	// Backlogs are the numbers of messages left waiting at the broker
	// while the stalled sink's heap is read, one run each.
	Backlogs []int
	// MemoryPayload is the payload size of the backlog's messages.
	MemoryPayload int
	// MemorySettle is how long the stalled sink is left alone once the
	// broker has delivered all it will, so that whatever the sink would
	// still allocate shows in its peak.
	MemorySettle time.Duration

	// Sections lists the sections to run, a subset of allSections.
	Sections []string
	// Out is the markdown file to put the report in; empty prints it.
	Out string
	// MongoURI is the server of the MongoDB figures; empty starts the
	// embedded one.
	MongoURI string
}

// fullConfig returns the sizes of a full run, a few minutes on two cores.
func fullConfig() Config {
	return Config{
		UnaryDuration:      2 * time.Second,
		StreamMessages:     1_000_000,
		ChainMessages:      5_000_000,
		PipelineMessages:   5_000_000,
		Repeat:             5,
		NetRepeat:          5,
		SupervisorChildren: 10_000,
		BrokerMessages:     100_000,
		ClientMessages:     100_000,
		MongoDocuments:     100_000,
		Backlogs:           []int{100_000, 1_000_000},
		MemoryPayload:      256,
		MemorySettle:       time.Second,
		Sections:           allSections,
	}
}

// quickConfig returns the sizes of a smoke test: every measurement runs,
// on counts too small for its figure to mean anything.
func quickConfig() Config {
	return Config{
		Quick:              true,
		UnaryDuration:      100 * time.Millisecond,
		StreamMessages:     10_000,
		ChainMessages:      50_000,
		PipelineMessages:   50_000,
		Repeat:             1,
		NetRepeat:          1,
		SupervisorChildren: 1_000,
		BrokerMessages:     500,
		ClientMessages:     500,
		MongoDocuments:     1_000,
		Backlogs:           []int{1_500, 3_000},
		MemoryPayload:      256,
		MemorySettle:       100 * time.Millisecond,
		Sections:           allSections,
	}
}

// parseFlags returns the Config that args select: the full or quick
// preset, then each size flag given.
func parseFlags(args []string, lookupEnv func(string) (string, bool), output io.Writer) (Config, error) {
	fs := flag.NewFlagSet("benchsuite", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: go run ./internal/benchsuite [flags]\n\n"+
			"Measures the library's figures and the machine's ceilings side by side in one run and prints\n"+
			"them as markdown, or puts them into the -out file between its benchsuite markers.\n\n")
		fs.PrintDefaults()
	}

	quick := fs.Bool("quick", false, "use tiny counts: a smoke test of every measurement, whose figures mean nothing")
	out := fs.String("out", "", "markdown `file` to put the report in, between its <!-- benchsuite:begin --> and end lines (created if missing); empty prints to standard output")
	uri, _ := lookupEnv("MONGODB_URI")
	mongoURI := fs.String("mongodb-uri", uri, "MongoDB connection `string` of the server to measure on (default $MONGODB_URI); empty starts the embedded FerretDB server")
	sections := fs.String("sections", strings.Join(allSections, ","), "comma-separated `list` of sections to run")

	// A size flag left at 0 keeps the preset's value.
	var (
		unaryDuration      = fs.Duration("unary-duration", 0, "how long each gRPC unary point runs (0: the preset's, 2s full)")
		streamMessages     = fs.Int("stream-messages", 0, "messages through the raw gRPC server stream (0: the preset's, 1000000 full)")
		chainMessages      = fs.Int("chain-messages", 0, "messages through each goroutine chain (0: the preset's, 5000000 full)")
		pipelineMessages   = fs.Int("pipeline-messages", 0, "messages through each stage pipeline (0: the preset's, 5000000 full)")
		repeat             = fs.Int("repeat", 0, "runs of each CPU-bound measurement, of which the median is reported (0: the preset's, 5 full)")
		netRepeat          = fs.Int("net-repeat", 0, "runs of each measurement over loopback, of which the median is reported (0: the preset's, 5 full)")
		supervisorChildren = fs.Int("supervisor-children", 0, "children of the supervisor measurement (0: the preset's, 10000 full)")
		brokerMessages     = fs.Int("broker-messages", 0, "messages through the broker with raw stubs (0: the preset's, 100000 full)")
		clientMessages     = fs.Int("client-messages", 0, "messages of each client measurement (0: the preset's, 100000 full)")
		mongoDocuments     = fs.Int("mongodb-documents", 0, "documents of each MongoDB measurement (0: the preset's, 100000 full)")
		memoryPayload      = fs.Int("memory-payload", 0, "payload bytes of the memory section's messages (0: the preset's, 256)")
		backlogs           = fs.String("backlogs", "", "comma-separated backlogs of the memory section (empty: the preset's, 100000,1000000 full)")
	)

	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0))
	}

	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	cfg.Out, cfg.MongoURI = *out, *mongoURI

	var errs []error
	cfg.Sections = nil
	for _, s := range strings.Split(*sections, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSections, s) {
			errs = append(errs, fmt.Errorf("-sections: unknown section %q; known: %s", s, strings.Join(allSections, ", ")))
			continue
		}
		cfg.Sections = append(cfg.Sections, s)
	}

	override := func(name string, flagValue int, dst *int) {
		switch {
		case flagValue < 0:
			errs = append(errs, fmt.Errorf("-%s: %d is negative", name, flagValue))
		case flagValue > 0:
			*dst = flagValue
		}
	}
	override("stream-messages", *streamMessages, &cfg.StreamMessages)
	override("chain-messages", *chainMessages, &cfg.ChainMessages)
	override("pipeline-messages", *pipelineMessages, &cfg.PipelineMessages)
	override("repeat", *repeat, &cfg.Repeat)
	override("net-repeat", *netRepeat, &cfg.NetRepeat)
	override("supervisor-children", *supervisorChildren, &cfg.SupervisorChildren)
	override("broker-messages", *brokerMessages, &cfg.BrokerMessages)
	override("client-messages", *clientMessages, &cfg.ClientMessages)
	override("mongodb-documents", *mongoDocuments, &cfg.MongoDocuments)
	override("memory-payload", *memoryPayload, &cfg.MemoryPayload)
	switch {
	case *unaryDuration < 0:
		errs = append(errs, fmt.Errorf("-unary-duration: %v is negative", *unaryDuration))
	case *unaryDuration > 0:
		cfg.UnaryDuration = *unaryDuration
	}

	if *backlogs != "" {
		cfg.Backlogs = nil
		for _, f := range strings.Split(*backlogs, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("-backlogs: %q is not a positive integer", f))
				continue
			}
			cfg.Backlogs = append(cfg.Backlogs, n)
		}
	}
	return cfg, errors.Join(errs...)
}

// runs reports whether the section is selected.
func (c Config) runs(section string) bool { return slices.Contains(c.Sections, section) }
