package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
)

// checkQuickRun runs the quick preset's sections and checks that each
// measured every row with a positive value.
func checkQuickRun(t *testing.T, env Env, sections []string, wantRows map[string]int) *Report {
	t.Helper()
	cfg := quickConfig()
	cfg.Sections = sections
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}

	r := run(context.Background(), cfg, env, "test", log)
	for _, sec := range r.Sections {
		if sec.Err != nil {
			t.Errorf("section %q failed: %v", sec.Title, sec.Err)
		}
		if want := wantRows[sec.Title]; len(sec.Rows) != want {
			t.Errorf("section %q has %d rows, want %d", sec.Title, len(sec.Rows), want)
		}
		for _, row := range sec.Rows {
			if row.Value.Value <= 0 {
				t.Errorf("section %q: %s = %v, want a positive value", sec.Title, row.Name, row.Value)
			}
		}
	}
	if len(r.Sections) != len(wantRows) {
		t.Errorf("report has %d sections, want %d", len(r.Sections), len(wantRows))
	}
	return r
}

func TestQuickRunMeasuresEverySection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every section for several seconds; skipped in -short mode")
	}
	checkQuickRun(t, Env{}, []string{"ceilings", "stage", "supervisor", "broker", "client", "memory"}, map[string]int{
		titleCeilings:   6,
		titleStage:      8,
		titleSupervisor: 2,
		titleBroker:     2,
		titleClient:     4,
		titleMemory:     4,
	})
}

func TestQuickRunComparesMongoDBSink(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the MongoDB sink for several seconds; skipped in -short mode")
	}
	env := Env{MongoURI: mongotest.URI(t), Samples: testdata.Lines(t, sampleFile)}
	r := checkQuickRun(t, env, []string{"mongodb"}, map[string]int{
		titleCeilings: 1, // the InsertMany ceiling
		titleMongoDB:  3, // without the unary ceiling, no bound estimates
	})
	if r.Machine.MongoDB == "" {
		t.Error("the report does not name the MongoDB server")
	}
}

func TestMongoDBSectionFailsWithoutSamples(t *testing.T) {
	cfg := quickConfig()
	cfg.Sections = []string{"mongodb"}
	r := run(context.Background(), cfg, Env{MongoURI: "mongodb://127.0.0.1:1"}, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if sec := r.Section(titleMongoDB); sec.Err != errNoSamples {
		t.Errorf("section error = %v, want errNoSamples", sec.Err)
	}
}
