package soak

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// runStats is what the harness measured beside the verdict.
type runStats struct {
	wall         time.Duration
	publishTook  time.Duration
	settleTook   time.Duration
	faults       map[faultKind]int
	sinkEvents   map[string]int // fault lines of the sink processes, by kind
	slow         map[string]slowStat
	incarnations int
	exits        map[string]int
	sourceRuns   int64
	findings     []string
	// incomplete is set when the run stopped before the sink settled
	// every message, so that what is missing was not necessarily lost.
	incomplete bool

	goroutinesLeft int
	peakSinkHeap   uint64
	peakSinkRSS    uint64
	peakTestHeap   uint64
	scrapeErrors   int64
}

// maxListed bounds the messages listed under each failing rule.
const maxListed = 20

// writeReport writes the final table of a run, and then every message
// that breaks a rule, up to maxListed per rule.
func writeReport(w io.Writer, p params, v *verdict, s runStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, value any) { fmt.Fprintf(tw, "  %s\t%v\n", name, value) }
	check := func(name string, n int) {
		verdict := "ok"
		if n != 0 {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", name, n, verdict)
	}

	fmt.Fprintf(tw, "soak %s form, seed %d, wall time %v\n", p.form(), p.seed, s.wall.Round(100*time.Millisecond))
	fmt.Fprintf(tw, "  replay\t%s\n", p.replayCommand())
	if s.incomplete {
		fmt.Fprintf(tw, "  NOTE\tthe run did not complete, so lost counts the messages the sink had not written yet\n")
	}
	row("messages published", fmt.Sprintf("%d (%d valid, %d poison of which %d over 16 MiB)", v.published, v.valid, v.poison, p.oversize))
	row("messages stored by the broker", fmt.Sprintf("%d (%d stored twice)", v.stored, v.storedTwice))
	row("source runs", s.sourceRuns)
	row("publish took", s.publishTook.Round(100*time.Millisecond))
	row("settle took (after the last fault)", s.settleTook.Round(100*time.Millisecond))
	row("documents in MongoDB", fmt.Sprintf("%d (in %d collections)", v.documents, v.collections))
	row("messages in the dead-letter topic", fmt.Sprintf("%d (%d repeated)", v.deadLetters, v.deadLetterRepeats))
	for _, reason := range sortedKeys(v.reasons) {
		fmt.Fprintf(tw, "    %d\t%s\n", v.reasons[reason], reason)
	}
	check("lost", len(v.lost))
	check("duplicated documents", len(v.duplicates))
	check("misplaced (valid dead-lettered, poison stored)", len(v.misplaced))
	check("documents that differ from their record", len(v.mismatched))
	check("goroutines left in the test process", s.goroutinesLeft)
	check("findings during the run", len(s.findings))
	row("peak heap, sink process", fmt.Sprintf("%s (resident %s; %d scrapes failed)", mib(s.peakSinkHeap), mib(s.peakSinkRSS), s.scrapeErrors))
	row("peak heap, test process", mib(s.peakTestHeap))
	fmt.Fprintf(tw, "  faults injected\t\n")
	for k := range faultKinds {
		fmt.Fprintf(tw, "    %d\t%v\n", s.faults[faultKind(k)], faultKind(k))
	}
	for _, kind := range sortedKeys(s.sinkEvents) {
		fmt.Fprintf(tw, "    %d\tsink %s (batches)\n", s.sinkEvents[kind], kind)
	}
	fmt.Fprintf(tw, "  sink operations of a second or more\t\n")
	for _, op := range sortedKeys(s.slow) {
		st := s.slow[op]
		fmt.Fprintf(tw, "    %d\t%s (%d failed, longest %v)\n", st.count, op, st.failed, st.max.Round(100*time.Millisecond))
	}
	row("sink processes started", s.incarnations)
	for _, how := range sortedKeys(s.exits) {
		fmt.Fprintf(tw, "    %d\tstopped by %s\n", s.exits[how], how)
	}
	tw.Flush()

	list := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d):\n", title, len(lines))
		for i, l := range lines {
			if i == maxListed {
				fmt.Fprintf(w, "  ... and %d more\n", len(lines)-maxListed)
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	list("LOST", v.lost)
	list("DUPLICATED", v.duplicates)
	list("MISPLACED", v.misplaced)
	list("MISMATCHED", v.mismatched)
	list("FINDINGS", s.findings)
}

// mib formats a byte count in MiB.
func mib(n uint64) string {
	if n == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// indent prefixes every line of s with prefix.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
