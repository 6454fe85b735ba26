package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func TestParseFlagsPresets(t *testing.T) {
	full, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if full.Quick || full.SupervisorChildren != 10_000 || !slices.Equal(full.Backlogs, []int{100_000, 1_000_000}) {
		t.Errorf("default config = %+v, want the full preset", full)
	}
	if !slices.Equal(full.Sections, allSections) {
		t.Errorf("default sections = %v, want %v", full.Sections, allSections)
	}

	quick, err := parseFlags([]string{"-quick"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !quick.Quick || quick.PipelineMessages >= full.PipelineMessages || quick.UnaryDuration >= full.UnaryDuration {
		t.Errorf("-quick config = %+v, want the quick preset", quick)
	}
}

func TestParseFlagsOverridesPreset(t *testing.T) {
	cfg, err := parseFlags([]string{"-quick", "-repeat", "7", "-unary-duration", "2s", "-backlogs", "5, 50",
		"-sections", "stage,memory", "-out", "B.md"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Repeat != 7 {
		t.Errorf("Repeat = %d, want 7", cfg.Repeat)
	}
	if cfg.UnaryDuration != 2*time.Second {
		t.Errorf("UnaryDuration = %v, want 2s", cfg.UnaryDuration)
	}
	if !slices.Equal(cfg.Backlogs, []int{5, 50}) {
		t.Errorf("Backlogs = %v, want [5 50]", cfg.Backlogs)
	}
	if !slices.Equal(cfg.Sections, []string{"stage", "memory"}) || !cfg.runs("memory") || cfg.runs("client") {
		t.Errorf("Sections = %v, want [stage memory]", cfg.Sections)
	}
	if cfg.Out != "B.md" {
		t.Errorf("Out = %q, want B.md", cfg.Out)
	}
	if cfg.ClientMessages != quickConfig().ClientMessages {
		t.Errorf("ClientMessages = %d, want the quick preset's %d", cfg.ClientMessages, quickConfig().ClientMessages)
	}
}

func TestParseFlagsMongoURIFromEnvironment(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == "MONGODB_URI" {
			return "mongodb://db:27017", true
		}
		return "", false
	}
	cfg, err := parseFlags(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MongoURI != "mongodb://db:27017" {
		t.Errorf("MongoURI = %q, want the environment's", cfg.MongoURI)
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"-sections", "stage,nope"},
		{"-repeat", "-1"},
		{"-unary-duration", "-1s"},
		{"-backlogs", "10,x"},
		{"-backlogs", "0"},
		{"extra"},
		{"-no-such-flag"},
	} {
		if _, err := parseFlags(args, noEnv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
}

func TestCommandLineRedactsPassword(t *testing.T) {
	got := commandLine([]string{"-mongodb-uri=mongodb://u:secret@h:1/", "-out", "B.md"})
	if want := "go run ./internal/benchsuite -mongodb-uri=mongodb://u:xxxxx@h:1/ -out B.md"; got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
	got = commandLine([]string{"-mongodb-uri", "mongodb://u:secret@h:1/"})
	if want := "go run ./internal/benchsuite -mongodb-uri mongodb://u:xxxxx@h:1/"; got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}

func TestCountLabel(t *testing.T) {
	for n, want := range map[int]string{999: "999", 2_000: "2k", 100_000: "100k", 1_000_000: "1M", 1_500_000: "1.5M", 1_234: "1234"} {
		if got := countLabel(n); got != want {
			t.Errorf("countLabel(%d) = %q, want %q", n, got, want)
		}
	}
}
