package baseline

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
)

// The benchmarks measure each ceiling on its own, b.N times, and report
// the mean rate. One iteration is one whole measurement, so run them with
// a count of iterations:
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/baseline
//
// go run ./internal/benchsuite measures the same ceilings next to the
// figures they bound.

// reportMean runs measure b.N times and reports the mean of its rates in
// unit.
func reportMean(b *testing.B, unit string, measure func() (float64, error)) {
	b.Helper()
	total := 0.0
	for b.Loop() {
		rate, err := measure()
		if err != nil {
			b.Fatal(err)
		}
		total += rate
	}
	b.ReportMetric(total/float64(b.N), unit)
}

func BenchmarkGRPCUnary(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			reportMean(b, "calls/s", func() (float64, error) { return GRPCUnary(callers, 3*time.Second) })
		})
	}
}

func BenchmarkGRPCServerStream(b *testing.B) {
	reportMean(b, "msgs/s", func() (float64, error) { return GRPCServerStream(1_000_000) })
}

func BenchmarkChain(b *testing.B) {
	reportMean(b, "msgs/s", func() (float64, error) { return Chain(5_000_000) })
}

func BenchmarkChainBatched(b *testing.B) {
	reportMean(b, "msgs/s", func() (float64, error) { return ChainBatched(5_000_000, 1000) })
}

// BenchmarkInsertMany inserts 100,000 sample documents (accounts.ejson
// repeated, each with an ObjectId of its own) in unordered batches of
// 1000 into the test server: MONGODB_URI, or the embedded FerretDB.
func BenchmarkInsertMany(b *testing.B) {
	const oid = `{"$oid":"`
	lines := testdata.Lines(b, "accounts.ejson")
	docs := make([]bson.Raw, 0, 100_000)
	for len(docs) < cap(docs) {
		for _, line := range lines {
			at := bytes.Index(line, []byte(oid))
			if at < 0 || len(docs) == cap(docs) {
				continue
			}
			p := bytes.Clone(line)
			copy(p[at+len(oid):], bson.NewObjectID().Hex())
			var doc bson.Raw
			if err := bson.UnmarshalExtJSON(p, false, &doc); err != nil {
				b.Fatal(err)
			}
			docs = append(docs, doc)
		}
	}
	uri := mongotest.URI(b)
	reportMean(b, "docs/s", func() (float64, error) { return InsertMany(context.Background(), uri, docs, 1000) })
}
