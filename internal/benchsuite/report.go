package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Unit says what a Quantity counts and how it is printed.
type Unit int

// Units of the figures.
const (
	PerSecond       Unit = iota // a rate: messages, calls or documents per second
	Millisecond                 // a duration
	Bytes                       // a size, printed in MiB
	PerMessage                  // a count per message, such as allocations
	NanosPerMessage             // a time per message
)

// Quantity is a measured number with its unit. Label names what the rate
// counts ("msgs", "calls", "docs") or what a per-message count counts
// ("allocs").
type Quantity struct {
	// Value is the number, in the base of Unit: per second, milliseconds,
	// bytes, or a count or nanoseconds per message.
	Value float64
	Unit  Unit
	Label string
}

// Rate returns a rate of label per second.
func Rate(v float64, label string) Quantity { return Quantity{Value: v, Unit: PerSecond, Label: label} }

// String formats q with three significant digits: "3.12M msgs/s",
// "52.4k calls/s", "412 ms", "18.3 MiB", "1.00 allocs/msg", "312 ns/msg".
func (q Quantity) String() string {
	switch q.Unit {
	case PerSecond:
		return fmt.Sprintf("%s %s/s", siPrefixed(q.Value), q.Label)
	case Millisecond:
		return fmt.Sprintf("%s ms", significant(q.Value))
	case Bytes:
		return fmt.Sprintf("%s MiB", significant(q.Value/(1<<20)))
	case PerMessage:
		return fmt.Sprintf("%.3f %s/msg", q.Value, q.Label)
	case NanosPerMessage:
		return fmt.Sprintf("%s ns/msg", significant(q.Value))
	}
	return significant(q.Value)
}

// siPrefixed formats v with three significant digits and a k, M or G
// suffix.
func siPrefixed(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return significant(v/1e9) + "G"
	case a >= 1e6:
		return significant(v/1e6) + "M"
	case a >= 1e3:
		return significant(v/1e3) + "k"
	}
	return significant(v)
}

// significant formats v with three significant digits, without an
// exponent: 3.12, 52.4, 412, 1234.
func significant(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100 || a == 0:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Verdict is the outcome of a figure against its target.
type Verdict int

// Verdicts. NoTarget is the zero value, for figures without a target.
const (
	NoTarget Verdict = iota
	Met
	NotMet
)

// String returns the word printed in the table.
func (v Verdict) String() string {
	switch v {
	case Met:
		return "met"
	case NotMet:
		return "**not met**"
	}
	return ""
}

// verdict returns Met when ok holds, NotMet otherwise.
func verdict(ok bool) Verdict {
	if ok {
		return Met
	}
	return NotMet
}

// Row is one figure of the report: what was measured, the value, what it
// is compared with, and the target it is held to.
type Row struct {
	// Name names the measured figure, as the table prints it.
	Name string
	// Value is the figure measured.
	Value Quantity
	// Runs holds each run's value, lowest first, when Value is their
	// median; the table prints the lowest and highest after Value.
	Runs []float64
	// Versus names the figure Value is compared with and gives its value,
	// for example "gRPC unary, 64 callers: 58.1k calls/s"; empty for none.
	Versus string
	// Ratio relates Value to Versus as the section defines it, printed as
	// given ("0.91×", "+3.1%"); empty for none.
	Ratio string
	// Target is the goal the figure is held to, as printed, such as
	// "≤ 1 alloc/msg", or empty for none.
	Target string
	// Verdict is whether the figure met Target, NoTarget without one.
	Verdict Verdict
}

// Section is a group of rows measured together, with a note saying how.
type Section struct {
	// Title heads the section and identifies it in Report.Section.
	Title string
	// Note describes how the section was measured: sizes, setup and what
	// each figure compares. It is empty for none.
	Note string
	// Rows are the figures, in the order printed.
	Rows []Row
	// Err is the failure that stopped the section's measurement, if any;
	// the rows measured before it are kept.
	Err error
}

// Machine describes where and when the report was measured.
type Machine struct {
	// CPUs is the number of logical CPUs, and CPUModel the first model
	// name of /proc/cpuinfo, "unknown CPU" where there is none.
	CPUs     int
	CPUModel string
	// GoVersion is the Go release with the OS and architecture, such as
	// "go1.26.0 linux/amd64".
	GoVersion string
	// GOMAXPROCS is the runtime's setting at the start of the run.
	GOMAXPROCS int
	// Date is the start of the run in UTC, to the minute.
	Date string
	// LoadBefore and LoadAfter are the load averages at the start and at
	// the end, as /proc/loadavg gives them.
	LoadBefore string
	LoadAfter  string
	MongoDB    string // the server the MongoDB figures were measured on
	Mode       string // "full" or "quick"
	// ElapsedTime is the wall time of the whole run, to the second.
	ElapsedTime string
}

// Report is the result of one run: the machine, the command, and the
// sections in the order they are printed.
type Report struct {
	// Command is the command line that reproduces the run.
	Command string
	// Machine describes where and when the run was measured.
	Machine Machine
	// Sections are the measured sections, in the order printed.
	Sections []*Section
}

// Section returns the section with the given title, adding an empty one
// at the end if there is none.
func (r *Report) Section(title string) *Section {
	for _, s := range r.Sections {
		if s.Title == title {
			return s
		}
	}
	s := &Section{Title: title}
	r.Sections = append(r.Sections, s)
	return s
}

// Failed reports whether any section failed.
func (r *Report) Failed() bool {
	for _, s := range r.Sections {
		if s.Err != nil {
			return true
		}
	}
	return false
}

// WriteMarkdown writes the report as markdown: the command, a list
// describing the machine, and one table per section. The text has no
// heading of its own, so that it can sit under one in a larger document.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder

	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	m := r.Machine
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), GOMAXPROCS %d, %s\n", m.CPUs, m.CPUModel, m.GOMAXPROCS, m.GoVersion)
	fmt.Fprintf(&b, "- Date: %s, %s mode, %s in all\n", m.Date, m.Mode, m.ElapsedTime)
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min): %s at the start, %s at the end\n", m.LoadBefore, m.LoadAfter)
	if m.MongoDB != "" {
		fmt.Fprintf(&b, "- MongoDB server: %s\n", m.MongoDB)
	}

	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n### %s\n\n", s.Title)
		if s.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", s.Note)
		}
		if len(s.Rows) > 0 {
			b.WriteString("| figure | value | compared with | ratio | target | verdict |\n")
			b.WriteString("|---|--:|---|--:|---|---|\n")
			for _, row := range s.Rows {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
					cell(row.Name), row.valueCell(), cell(row.Versus), cell(row.Ratio), cell(row.Target), row.Verdict)
			}
		}
		if s.Err != nil {
			if len(s.Rows) > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "FAILED: %s\n", cell(s.Err.Error()))
		}
	}

	_, err := io.WriteString(w, b.String())
	return err
}

// valueCell formats the value, followed by the range of its runs when it
// is a median of several: "50.3k msgs/s (47.1k–53.0k msgs/s, 5 runs)".
func (row Row) valueCell() string {
	if len(row.Runs) < 2 {
		return row.Value.String()
	}
	lo, hi := row.Value, row.Value
	lo.Value, hi.Value = row.Runs[0], row.Runs[len(row.Runs)-1]
	return fmt.Sprintf("%s (%s – %s, %d runs)", row.Value, lo, hi, len(row.Runs))
}

// cell makes s safe inside a markdown table cell: no pipe, no line break.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// ratio formats a/b as "0.91×", or returns "" when b is not positive (not
// measured).
func ratio(a, b float64) string {
	if b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}
