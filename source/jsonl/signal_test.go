package jsonl_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// TestSIGTERMDrainsAndExitsZero stops the source with SIGTERM in the
// middle of the file: it publishes what it has read, commits the position
// after the last line the broker acknowledged, and exits 0. The topic then
// holds exactly the lines before the checkpoint, once each.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	b := danubetest.Start(t)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	const lines = 20000
	appendLines(t, input, 0, lines)

	p := startProcess(t, b, input)
	waitUntil(t, p, "500 lines stored", time.Minute, func() bool { return storedCount(b) >= 500 })
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; output:\n%s", code, p.out)
	}

	cp := readCheckpoint(t, input)
	if cp.Lines == 0 || cp.Lines >= lines {
		t.Fatalf("checkpoint at line %d, want one inside the file: the drain began before the end", cp.Lines)
	}
	if cp.Offset != offsetAfter(int(cp.Lines)) {
		t.Errorf("checkpoint offset %d, want %d, where line %d starts", cp.Offset, offsetAfter(int(cp.Lines)), cp.Lines)
	}
	counts := lineCounts(b)
	for n := range int(cp.Lines) {
		if c := counts[inputLine(n)]; c != 1 {
			t.Errorf("line %d stored %d times, want once", n, c)
		}
	}
	if len(counts) != int(cp.Lines) || storedCount(b) != int(cp.Lines) {
		t.Errorf("%d messages stored (%d distinct), want the %d lines before the checkpoint", storedCount(b), len(counts), cp.Lines)
	}
}

// TestSecondSIGTERMForcesExit holds the broker's acknowledgements back,
// so that a drain cannot finish. A second SIGTERM ends it long before its
// deadline, with exit code 143 (128 + SIGTERM), and the checkpoint stays
// at the last acknowledged line.
func TestSecondSIGTERMForcesExit(t *testing.T) {
	b := danubetest.Start(t)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	const lines = 20000
	appendLines(t, input, 0, lines)

	p := startProcess(t, b, input, "DRAIN_TIMEOUT_MS", "120000")
	waitUntil(t, p, "a commit past line 200", time.Minute, func() bool {
		cp, ok, err := readCheckpointFile(input)
		return err == nil && ok && cp.Lines >= 200
	})
	b.Delay("SendMessage", time.Hour)
	storedBefore := storedCount(b)
	waitUntil(t, p, "sends stored but not acknowledged", time.Minute, func() bool { return storedCount(b) > storedBefore })

	p.signal(t, syscall.SIGTERM)
	waitUntil(t, p, "the drain to begin", time.Minute, func() bool { return p.out.contains("stopping") })
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, time.Minute)
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit code %d after a second SIGTERM, want %d; output:\n%s", code, 128+int(syscall.SIGTERM), p.out)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("exit took %v after the second signal, want far less than the 120 s drain deadline", elapsed)
	}

	cp := readCheckpoint(t, input)
	counts := lineCounts(b)
	for n := range int(cp.Lines) {
		if counts[inputLine(n)] == 0 {
			t.Errorf("line %d is before the checkpoint but not stored", n)
		}
	}
	if stored := storedCount(b); stored <= int(cp.Lines) {
		t.Errorf("%d messages stored, checkpoint at %d: want sends stored but never acknowledged past it", stored, cp.Lines)
	}
	t.Logf("checkpoint at line %d; %d messages stored", cp.Lines, storedCount(b))
}
