package mongodb

import (
	"bytes"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	benchBatch     = 1000
	benchDocuments = 100_000
)

// benchPayloads returns accounts.ejson repeated to benchDocuments payloads,
// each with an ObjectId _id of its own, so that no two collide.
func benchPayloads(b *testing.B) [][]byte {
	lines := testdata.Lines(b, "accounts.ejson")
	payloads := make([][]byte, 0, benchDocuments)
	for len(payloads) < benchDocuments {
		for _, line := range lines {
			const oid = `{"$oid":"`
			i := bytes.Index(line, []byte(oid))
			if i < 0 || len(payloads) == benchDocuments {
				continue
			}
			p := bytes.Clone(line)
			copy(p[i+len(oid):], bson.NewObjectID().Hex())
			payloads = append(payloads, p)
		}
	}
	return payloads
}

// BenchmarkSinkWrite writes batches of 1000 sample documents through
// Sink.Write, unordered inserts, each document keeping its payload _id:
// with the default metadata, and without it, which stores exactly the
// documents of BenchmarkInsertManyLoop. Run both on the same server to
// compare.
func BenchmarkSinkWrite(b *testing.B) {
	payloads := benchPayloads(b)
	for _, bench := range []struct {
		name string
		cfg  Config
	}{
		{"metadata", Config{}},
		{"no_metadata", Config{OmitMetadata: true}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			s, _ := openSink(b, bench.cfg)
			ctx := testContext(b)
			records := make([]*sink.Record, len(payloads))
			for i, p := range payloads {
				records[i] = newRecord(uint64(i), string(p))
			}

			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := (i * benchBatch) % len(records)
				if start == 0 && i > 0 {
					b.StopTimer()
					s.conn.Load().db.Collection("events").Drop(ctx)
					b.StartTimer()
				}
				if err := s.Write(ctx, records[start:start+benchBatch]); err != nil {
					b.Fatalf("Write: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

// BenchmarkInsertManyLoop inserts the documents of BenchmarkSinkWrite with
// the driver's InsertMany, unordered, in batches of 1000, converted to BSON
// by the driver before the timer starts.
func BenchmarkInsertManyLoop(b *testing.B) {
	payloads := benchPayloads(b)
	coll := mongotest.Database(b).Collection("events")
	ctx := testContext(b)

	docs := make([]any, len(payloads))
	for i, p := range payloads {
		var raw bson.Raw
		if err := bson.UnmarshalExtJSON(p, false, &raw); err != nil {
			b.Fatal(err)
		}
		docs[i] = raw
	}
	opts := options.InsertMany().SetOrdered(false)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := (i * benchBatch) % len(docs)
		if start == 0 && i > 0 {
			b.StopTimer()
			coll.Drop(ctx)
			b.StartTimer()
		}
		if _, err := coll.InsertMany(ctx, docs[start:start+benchBatch], opts); err != nil {
			b.Fatalf("InsertMany: %v", err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "docs/s")
}
