package jsonl_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// BenchmarkPoll reads a file of generated lines with Poll and reports
// lines per second, the reading side of the source alone.
func BenchmarkPoll(b *testing.B) {
	input := filepath.Join(b.TempDir(), "input.jsonl")
	appendLines(b, input, 0, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	lines := 0
	for b.Loop() {
		s, err := jsonl.New(jsonl.Options{File: input})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Open(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
		for {
			recs, err := s.Poll(context.Background())
			lines += len(recs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		s.Close(context.Background())
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}
