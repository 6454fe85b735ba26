package jsonl_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// TestKilledProcessLosesNoLine kills the running source with SIGKILL at
// random points, several times, appending to the file as it goes, and
// restarts it each time. At the end every line of the file is on the
// topic at least once. Lines published after the last commit before a
// kill come again, and are counted as duplicates.
//
// Set JSONL_KILL_SEED to replay a run.
func TestKilledProcessLosesNoLine(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("JSONL_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("JSONL_KILL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (JSONL_KILL_SEED=%d replays its choices of when to kill)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	b := danubetest.Start(t)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	lines := 2000
	appendLines(t, input, 0, lines)

	const kills = 6
	for k := range kills {
		p := startProcess(t, b, input)
		before := storedCount(b)

		switch phase := rng.IntN(4); phase {
		case 0:
			// Kill during start-up, before or while the producer connects.
		case 1, 2:
			// Kill after a random share of what is left was stored.
			target := before + 1 + rng.IntN(max(lines-before, 1))
			waitUntil(t, p, "progress before the kill", time.Minute, func() bool { return storedCount(b) >= target })
		case 3:
			// Append while it runs, and kill once some new lines are stored.
			more := 200 + rng.IntN(600)
			appendLines(t, input, lines, lines+more)
			lines += more
			target := before + 1 + rng.IntN(more)
			waitUntil(t, p, "progress on appended lines", time.Minute, func() bool { return storedCount(b) >= target })
		}
		p.signal(t, syscall.SIGKILL)
		if code := p.wait(t, 30*time.Second); code != -1 {
			t.Fatalf("kill %d: exit code %d, want death by SIGKILL; output:\n%s", k, code, p.out)
		}
		t.Logf("kill %d: %d messages stored of %d lines", k, storedCount(b), lines)

		if more := rng.IntN(300); more > 0 {
			appendLines(t, input, lines, lines+more)
			lines += more
		}
	}

	// The last run catches up, and a SIGTERM ends it cleanly.
	p := startProcess(t, b, input)
	waitUntil(t, p, "every line stored", 2*time.Minute, func() bool { return len(lineCounts(b)) >= lines })
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0; output:\n%s", code, p.out)
	}

	counts := lineCounts(b)
	duplicates := 0
	for n := range lines {
		c := counts[inputLine(n)]
		if c == 0 {
			t.Errorf("line %d never published", n)
		}
		duplicates += max(c-1, 0)
	}
	if len(counts) != lines {
		t.Errorf("%d distinct payloads on the topic, want the %d lines", len(counts), lines)
	}
	if cp := readCheckpoint(t, input); cp.Lines != uint64(lines) || cp.Offset != offsetAfter(lines) {
		t.Errorf("final checkpoint %+v, want %d lines at offset %d", cp, lines, offsetAfter(lines))
	}
	t.Logf("%d lines, %d kills, %d messages stored, %d duplicates", lines, kills, storedCount(b), duplicates)
}
