package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"
)

// Env is what a run needs from outside the program: the MongoDB server
// and the sample documents. Sections that need a missing part fail with
// an error naming it.
type Env struct {
	// MongoURI is the connection string of the server of the MongoDB
	// figures.
	MongoURI string
	// MongoSource says where MongoURI came from, for the report.
	MongoSource string
	// Samples are sample documents in Extended JSON, one a line, each
	// with an ObjectId _id.
	Samples [][]byte
}

// Section titles, in the order they are printed.
const (
	titleCeilings   = "Ceilings (package internal/baseline)"
	titleStage      = "Pipeline (package stage) and instrumentation (package otel)"
	titleSupervisor = "Supervisor (package supervisor)"
	titleBroker     = "Broker alone (package danube/danubetest, raw gRPC stubs)"
	titleClient     = "Client (package danube) against the in-process broker"
	titleMongoDB    = "MongoDB sink (packages sink and mongodb) against InsertMany"
	titleMemory     = "Memory of a stalled sink (package sink) while a backlog waits"
)

// ceilings holds the ceilings measured in the run, for the ratios of the
// later sections; a zero field was not measured.
type ceilings struct {
	unary        map[int]float64 // calls/s by number of callers
	chain        float64
	chainBatched float64
}

// suite runs the sections of one run and collects their figures.
type suite struct {
	cfg    Config
	env    Env
	log    *slog.Logger
	report *Report
	ceil   ceilings
}

// run measures every selected section in order and returns the report.
// A section that fails keeps the rows measured before its failure, and the
// run goes on with the next section. Report.Failed tells whether any did.
func run(ctx context.Context, cfg Config, env Env, command string, log *slog.Logger) *Report {
	s := &suite{
		cfg:    cfg,
		env:    env,
		log:    log,
		report: &Report{Command: command, Machine: describeMachine()},
		ceil:   ceilings{unary: map[int]float64{}},
	}
	start := time.Now()
	s.report.Machine.Date = start.UTC().Format("2006-01-02 15:04 MST")
	s.report.Machine.Mode = "full"
	if cfg.Quick {
		s.report.Machine.Mode = "quick"
	}

	// The ceilings table comes first even when only the InsertMany
	// ceiling, measured with the MongoDB figures, is in it.
	if cfg.runs("ceilings") || cfg.runs("mongodb") {
		s.report.Section(titleCeilings)
	}
	steps := []struct {
		name, title string
		fn          func(context.Context, *Section) error
	}{
		{"ceilings", titleCeilings, s.measureCeilings},
		{"stage", titleStage, s.measureStage},
		{"supervisor", titleSupervisor, s.measureSupervisor},
		{"broker", titleBroker, s.measureBroker},
		{"client", titleClient, s.measureClient},
		{"mongodb", titleMongoDB, s.measureMongoDB},
		{"memory", titleMemory, s.measureMemory},
	}
	for _, step := range steps {
		if !cfg.runs(step.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		sec := s.report.Section(step.title)
		s.log.Info("measuring", "section", step.name)
		sectionStart := time.Now()

		// Each section starts on a collected heap, so that garbage of the
		// one before costs it nothing.
		runtime.GC()
		if err := step.fn(ctx, sec); err != nil {
			sec.Err = err
			s.log.Error("section failed", "section", step.name, "error", err)
		}
		s.log.Info("measured", "section", step.name, "elapsed", time.Since(sectionStart).Round(time.Millisecond))
	}

	s.report.Machine.LoadAfter = loadAverage()
	s.report.Machine.ElapsedTime = time.Since(start).Round(time.Second).String()
	return s.report
}

// unaryCeiling returns the unary ceiling with 64 callers as a figure to
// compare with, and its value, 0 when it was not measured.
func (s *suite) unaryCeiling() (string, float64) {
	v, ok := s.ceil.unary[64]
	if !ok {
		return "", 0
	}
	return fmt.Sprintf("gRPC unary, 64 callers: %s", Rate(v, "calls")), v
}

// median runs measure n times and returns the median of its results. It
// returns the first error.
func median(n int, measure func() (float64, error)) (float64, error) {
	med, _, err := medianRuns(n, measure)
	return med, err
}

// medianRuns runs measure n times and returns the median of its results
// and every result, lowest first. It returns the first error.
func medianRuns(n int, measure func() (float64, error)) (float64, []float64, error) {
	results := make([]float64, 0, n)
	for range n {
		v, err := measure()
		if err != nil {
			return 0, nil, err
		}
		results = append(results, v)
	}
	slices.Sort(results)
	return results[len(results)/2], results, nil
}

// atLeastRow fills in the target and verdict of a rate that must reach
// min.
func atLeastRow(row Row, min float64, label string) Row {
	row.Target = fmt.Sprintf("≥ %s", Rate(min, label))
	row.Verdict = verdict(row.Value.Value >= min)
	return row
}
