package main

import (
	"context"
	"fmt"

	"github.com/danube-messaging/danube-connect-go/internal/baseline"
)

// measureCeilings measures the physical limits that the later sections
// are read against: raw gRPC over loopback and goroutines chained by
// channels. The InsertMany ceiling joins this section from the MongoDB
// one, which measures it next to the sink.
func (s *suite) measureCeilings(_ context.Context, sec *Section) error {
	sec.Note = fmt.Sprintf("Raw gRPC: a hand-described service, client and server in this process over loopback, "+
		"300-byte requests and 1-byte replies, %v per point; the server stream sends 300-byte messages; median of %d runs each. "+
		"Chains: five goroutines joined by buffered channels (capacity 1024 for pointers, 16 for batches of 1000), "+
		"%d messages, median of %d runs.", s.cfg.UnaryDuration, s.cfg.NetRepeat, s.cfg.ChainMessages, s.cfg.Repeat)

	for _, callers := range []int{1, 16, 64} {
		rate, runs, err := medianRuns(s.cfg.NetRepeat, func() (float64, error) { return baseline.GRPCUnary(callers, s.cfg.UnaryDuration) })
		if err != nil {
			return fmt.Errorf("gRPC unary with %d callers: %w", callers, err)
		}
		s.ceil.unary[callers] = rate
		sec.Rows = append(sec.Rows, Row{Name: fmt.Sprintf("gRPC unary calls, %d %s", callers, plural(callers, "caller", "callers")), Value: Rate(rate, "calls"), Runs: runs})
	}

	rate, runs, err := medianRuns(s.cfg.NetRepeat, func() (float64, error) { return baseline.GRPCServerStream(s.cfg.StreamMessages) })
	if err != nil {
		return fmt.Errorf("gRPC server stream: %w", err)
	}
	sec.Rows = append(sec.Rows, Row{Name: "gRPC server stream, one stream", Value: Rate(rate, "msgs"), Runs: runs})

	rate, err = median(s.cfg.Repeat, func() (float64, error) { return baseline.Chain(s.cfg.ChainMessages) })
	if err != nil {
		return fmt.Errorf("goroutine chain: %w", err)
	}
	s.ceil.chain = rate
	sec.Rows = append(sec.Rows, Row{Name: "five goroutines, a pointer per message", Value: Rate(rate, "msgs")})

	rate, err = median(s.cfg.Repeat, func() (float64, error) { return baseline.ChainBatched(s.cfg.ChainMessages, 1000) })
	if err != nil {
		return fmt.Errorf("batched goroutine chain: %w", err)
	}
	s.ceil.chainBatched = rate
	sec.Rows = append(sec.Rows, Row{Name: "five goroutines, batches of 1000", Value: Rate(rate, "msgs")})
	return nil
}

// plural returns one when n is 1, many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
