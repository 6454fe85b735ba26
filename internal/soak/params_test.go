package soak

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// The command-line flags of the soak, each with an environment variable
// that sets it when the flag is not given.
var (
	longFlag     = flag.Bool("soak.long", false, "run the long soak (at least 100,000 messages); env SOAK_LONG=1")
	seedFlag     = flag.Uint64("soak.seed", 0, "seed of the data and the fault schedule; 0 picks one from the clock; env SOAK_SEED")
	messagesFlag = flag.Int("soak.messages", 0, "messages to publish, poison included; 0 means the form's default; env SOAK_MESSAGES")
	raceSinkFlag = flag.Bool("soak.race-sink", false, "build the sink process with the race detector; env SOAK_RACE_SINK=1")
	reportFlag   = flag.String("soak.report", "", "also write the final table to this file; env SOAK_REPORT")
)

// params sizes one soak run. The short form runs in the package's
// ordinary tests; the long form is asked for with -soak.long.
type params struct {
	long bool
	seed uint64

	// messages is the number of records the source publishes, poison
	// included; poison is how many of them are poison, of which oversize
	// are JSON objects over MongoDB's 16 MiB limit once converted to BSON.
	messages int
	poison   int
	oversize int

	// failureRate is the share of the sink's Write calls that fail as
	// retryable.
	failureRate float64

	// faults is the number of discrete faults injected, gapMin to gapMax
	// apart; every kind comes at least once.
	faults         int
	gapMin, gapMax time.Duration

	// settleWithin bounds the wait, after the last fault and the last
	// publish, for the sink to settle every message.
	settleWithin time.Duration
	// deadline bounds the whole run, from the start of the broker to the
	// final check.
	deadline time.Duration

	raceSink bool
	report   string
}

// soakParams returns the parameters of this run from the flags and the
// environment.
func soakParams(t *testing.T) params {
	t.Helper()

	p := params{
		long:         *longFlag || os.Getenv("SOAK_LONG") == "1",
		seed:         *seedFlag,
		raceSink:     *raceSinkFlag || os.Getenv("SOAK_RACE_SINK") == "1",
		report:       *reportFlag,
		failureRate:  0.10,
		messages:     *messagesFlag,
		gapMin:       500 * time.Millisecond,
		gapMax:       2 * time.Second,
		settleWithin: 90 * time.Second,
	}
	if p.seed == 0 {
		p.seed = envUint(t, "SOAK_SEED")
	}
	if p.seed == 0 {
		p.seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	if p.messages == 0 {
		p.messages = int(envUint(t, "SOAK_MESSAGES"))
	}
	if p.report == "" {
		p.report = os.Getenv("SOAK_REPORT")
	}

	if p.long {
		if p.messages == 0 {
			p.messages = 100_000
		}
		p.oversize = 3
		p.faults = 48
		p.gapMin, p.gapMax = 2*time.Second, 4*time.Second
		p.settleWithin = 10 * time.Minute
		p.deadline = 30 * time.Minute
	} else {
		if p.messages == 0 {
			p.messages = 6_000
		}
		p.oversize = 1
		p.faults = 12
		p.deadline = 4 * time.Minute
	}
	p.poison = max(p.messages/100, p.oversize+5)
	if p.messages < 100 {
		t.Fatalf("invalid message count %d: the soak needs at least 100, so that every kind of poison occurs", p.messages)
	}
	return p
}

// form names the form of the run, for the report.
func (p params) form() string {
	if p.long {
		return "long"
	}
	return "short"
}

// replayCommand returns the command that runs the soak again with the
// same data and fault schedule.
func (p params) replayCommand() string {
	cmd := fmt.Sprintf("go test ./internal/soak -run TestSoakLosesNothing -v -soak.seed=%d", p.seed)
	if p.long {
		cmd += " -soak.long -timeout 40m"
	}
	if *messagesFlag != 0 || os.Getenv("SOAK_MESSAGES") != "" {
		cmd += fmt.Sprintf(" -soak.messages=%d", p.messages)
	}
	return cmd
}

// envUint reads a non-negative integer from the environment variable
// name, 0 when it is unset.
func envUint(t *testing.T, name string) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("invalid %s %q: want a non-negative integer", name, v)
	}
	return n
}
