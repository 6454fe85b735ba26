package mongodb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const testTopic = "/default/events"

// testContext returns a context that ends with the test or after a minute.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openSink opens a sink on a database of the test's own on the shared test
// server. cfg needs no connection string, database or collection; the
// collection defaults to "events".
func openSink(t testing.TB, cfg Config, opts ...Option) (*Sink, *mongo.Database) {
	t.Helper()
	db := mongotest.Database(t)
	return openSinkOn(t, mongotest.URI(t), db, cfg, opts...), db
}

func openSinkOn(t testing.TB, uri string, db *mongo.Database, cfg Config, opts ...Option) *Sink {
	t.Helper()
	cfg.ConnectionString = uri
	cfg.Database = db.Name()
	if cfg.Collection == "" {
		cfg.Collection = "events"
	}
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(testContext(t)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newRecord returns a record of testTopic, partition 0, published at a fixed
// time.
func newRecord(offset uint64, payload string) *sink.Record {
	return &sink.Record{
		Topic:          testTopic,
		PartitionTopic: testTopic,
		Offset:         offset,
		Payload:        []byte(payload),
		Producer:       "test-producer",
		PublishTime:    time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC),
		Attempt:        1,
	}
}

// linesToRecords returns a record for each line, offsets from first.
func linesToRecords(lines [][]byte, first uint64) []*sink.Record {
	records := make([]*sink.Record, len(lines))
	for i, line := range lines {
		records[i] = newRecord(first+uint64(i), string(line))
	}
	return records
}

// failures returns the failures of a Write by record index, failing the test
// when err is neither nil nor a *sink.BatchError.
func failures(t testing.TB, err error) map[int]error {
	t.Helper()
	got := map[int]error{}
	if err == nil {
		return got
	}
	var batchErr *sink.BatchError
	if !errors.As(err, &batchErr) {
		t.Fatalf("Write returned %v (%T), want nil or a *sink.BatchError", err, err)
	}
	for _, f := range batchErr.Failures {
		if _, dup := got[f.Index]; dup {
			t.Errorf("record %d is named twice in the batch error", f.Index)
		}
		got[f.Index] = f.Err
	}
	return got
}

// writeAll writes records in batches of batchSize and fails the test on any
// failure.
func writeAll(t testing.TB, s *Sink, records []*sink.Record, batchSize int) {
	t.Helper()
	ctx := testContext(t)
	for start := 0; start < len(records); start += batchSize {
		end := min(start+batchSize, len(records))
		if err := s.Write(ctx, records[start:end]); err != nil {
			t.Fatalf("write records %d to %d: %v", start, end, err)
		}
	}
}

// count returns the number of documents in coll matching filter.
func count(t testing.TB, coll *mongo.Collection, filter any) int64 {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	n, err := coll.CountDocuments(testContext(t), filter)
	if err != nil {
		t.Fatalf("count %s: %v", coll.Name(), err)
	}
	return n
}

// findByID returns the document with the given _id, or nil.
func findByID(t testing.TB, coll *mongo.Collection, id any) bson.Raw {
	t.Helper()
	raw, err := coll.FindOne(testContext(t), bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		t.Fatalf("find %v in %s: %v", id, coll.Name(), err)
	}
	return raw
}

// modes runs f as a subtest in unordered and in ordered mode.
func modes(t *testing.T, f func(t *testing.T, ordered bool)) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) { f(t, ordered) })
	}
}
