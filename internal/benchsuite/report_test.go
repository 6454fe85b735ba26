package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuantityString(t *testing.T) {
	tests := []struct {
		q    Quantity
		want string
	}{
		{Rate(3_124_000, "msgs"), "3.12M msgs/s"},
		{Rate(52_400, "calls"), "52.4k calls/s"},
		{Rate(999, "docs"), "999 docs/s"},
		{Rate(12_000_000_000, "msgs"), "12.0G msgs/s"},
		{Quantity{Value: 412.4, Unit: Millisecond}, "412 ms"},
		{Quantity{Value: 0.949, Unit: Millisecond}, "0.949 ms"},
		{Quantity{Value: 18.3 * (1 << 20), Unit: Bytes}, "18.3 MiB"},
		{Quantity{Value: 1.0031, Unit: PerMessage, Label: "allocs"}, "1.003 allocs/msg"},
		{Quantity{Value: 312.2, Unit: NanosPerMessage}, "312 ns/msg"},
		{Quantity{Value: 0, Unit: Millisecond}, "0 ms"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestRatioIsEmptyWithoutBase(t *testing.T) {
	if got := ratio(1, 0); got != "" {
		t.Errorf("ratio(1, 0) = %q, want empty", got)
	}
	if got := ratio(45, 60); got != "0.75×" {
		t.Errorf("ratio(45, 60) = %q, want 0.75×", got)
	}
}

func TestValueCellGivesTheRangeOfAMedian(t *testing.T) {
	one := Row{Value: Rate(50_300, "msgs"), Runs: []float64{50_300}}
	if got := one.valueCell(); got != "50.3k msgs/s" {
		t.Errorf("one run: valueCell() = %q, want the value alone", got)
	}
	five := Row{Value: Rate(50_300, "msgs"), Runs: []float64{47_100, 49_000, 50_300, 51_000, 53_000}}
	if got, want := five.valueCell(), "50.3k msgs/s (47.1k msgs/s – 53.0k msgs/s, 5 runs)"; got != want {
		t.Errorf("five runs: valueCell() = %q, want %q", got, want)
	}
}

func sampleReport() *Report {
	r := &Report{
		Command: "go run ./internal/benchsuite -quick",
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26 linux/amd64", GOMAXPROCS: 2,
			Date: "2026-01-02 03:04 UTC", LoadBefore: "1.00, 2.00, 3.00", LoadAfter: "0.50, 1.00, 2.00",
			Mode: "quick", ElapsedTime: "3s"},
	}
	sec := r.Section("Client")
	sec.Note = "Over loopback."
	sec.Rows = []Row{
		{Name: "publish | pipelined", Value: Rate(41_400, "msgs"), Versus: "gRPC unary: 53.9k calls/s", Ratio: "0.77×",
			Target: "≥ 50.0k msgs/s", Verdict: NotMet},
		{Name: "consume", Value: Rate(60_000, "msgs"), Target: "≥ 50.0k msgs/s", Verdict: Met},
	}
	r.Section("Memory").Err = errors.New("backlog of 10: broken\npipe")
	return r
}

func TestWriteMarkdownTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Command: `go run ./internal/benchsuite -quick`\n",
		"- Machine: 2 CPUs (Test CPU), GOMAXPROCS 2, go1.26 linux/amd64\n",
		"- Load average (1, 5, 15 min): 1.00, 2.00, 3.00 at the start, 0.50, 1.00, 2.00 at the end\n",
		"### Client\n\nOver loopback.\n\n| figure | value |",
		`| publish \| pipelined | 41.4k msgs/s | gRPC unary: 53.9k calls/s | 0.77× | ≥ 50.0k msgs/s | **not met** |`,
		"| consume | 60.0k msgs/s |  |  | ≥ 50.0k msgs/s | met |",
		"### Memory\n\nFAILED: backlog of 10: broken pipe\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "MongoDB server") {
		t.Errorf("markdown names a MongoDB server that the report does not have:\n%s", got)
	}
}

func TestReportFailedWhenASectionFailed(t *testing.T) {
	r := sampleReport()
	if !r.Failed() {
		t.Error("Failed() = false with a failed section")
	}
	r.Section("Memory").Err = nil
	if r.Failed() {
		t.Error("Failed() = true without a failed section")
	}
}

func TestSpliceReplacesBetweenMarkers(t *testing.T) {
	doc := "# Title\n\nIntro.\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\n## Reading\n"
	got, err := splice([]byte(doc), []byte("new table\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# Title\n\nIntro.\n\n" + beginMarker + "\nnew table\n" + endMarker + "\n\n## Reading\n"
	if string(got) != want {
		t.Errorf("splice =\n%s\nwant\n%s", got, want)
	}
}

func TestSpliceRejectsMissingMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"no markers":        "# Title\n",
		"no end":            beginMarker + "\ntable\n",
		"end before begin":  endMarker + "\n" + beginMarker + "\n",
		"begin marker only": "text " + beginMarker,
	} {
		if _, err := splice([]byte(doc), []byte("x\n")); err == nil {
			t.Errorf("%s: splice succeeded, want an error", name)
		}
	}
}

func TestWriteReportCreatesMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCH.md")
	if err := writeReport(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte(beginMarker+"\nCommand: ")) || !bytes.HasSuffix(got, []byte(endMarker+"\n")) {
		t.Errorf("created file is not the report between markers:\n%s", got)
	}
}

func TestWriteReportKeepsFileWithoutMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCH.md")
	const text = "# Hand-written\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, sampleReport()); err == nil {
		t.Error("writeReport succeeded on a file without markers, want an error")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != text {
		t.Errorf("file changed to %q, want it kept as %q", got, text)
	}
}
