package mongodb

import (
	"bytes"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestSampleDocumentsRoundTrip writes every document of every sample file
// and finds each in MongoDB with the values and BSON types that the Go
// driver's own Extended JSON reader gives the source line.
func TestSampleDocumentsRoundTrip(t *testing.T) {
	files := testdata.ExtendedJSONFiles(t)
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		coll := db.Collection("events")

		var records []*sink.Record
		var sources [][]byte
		for _, name := range files {
			lines := testdata.Lines(t, name)
			records = append(records, linesToRecords(lines, uint64(len(records)))...)
			sources = append(sources, lines...)
		}
		writeAll(t, s, records, 500)

		stored := allByID(t, coll)
		if len(stored) != len(sources) {
			t.Fatalf("collection holds %d documents, want %d", len(stored), len(sources))
		}
		for i, line := range sources {
			want, err := driverConvert(line)
			if err != nil {
				t.Fatalf("source %d: %v", i, err)
			}
			got := stored[idKey(want.Lookup("_id"))]
			if got == nil {
				t.Fatalf("source %d (_id %v) not found", i, want.Lookup("_id"))
			}
			if diff := documentDiff("", want, got, DefaultMetadataField); diff != "" {
				t.Fatalf("source %d (_id %v): %s", i, want.Lookup("_id"), diff)
			}
		}
	})
}

// TestRewriteWithDeterministicIDLeavesNoDuplicates writes a sample file
// twice, as a redelivery would, with ids from the message position.
func TestRewriteWithDeterministicIDLeavesNoDuplicates(t *testing.T) {
	lines := testdata.Lines(t, "accounts.ejson")
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered, IDStrategy: IDDeterministic, IDOverwrite: true})
		coll := db.Collection("events")
		records := linesToRecords(lines, 0)

		writeAll(t, s, records, 1000)
		writeAll(t, s, records, 700)

		if got := count(t, coll, nil); got != int64(len(lines)) {
			t.Errorf("collection holds %d documents after writing %d twice, want %d", got, len(lines), len(lines))
		}
		id := DeterministicID(records[42])
		if findByID(t, coll, id) == nil {
			t.Errorf("no document with deterministic _id %q", id)
		}
	})
}

// TestCatalogDocumentRoundTrips writes one large document with deep maps,
// numeric-string keys, large integers and nulls.
func TestCatalogDocumentRoundTrips(t *testing.T) {
	payload := testdata.File(t, "citm_catalog.json")
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		record := newRecord(7, string(payload))
		if err := s.Write(testContext(t), []*sink.Record{record}); err != nil {
			t.Fatalf("Write: %v", err)
		}

		want, err := driverConvert(payload)
		if err != nil {
			t.Fatal(err)
		}
		got := findByID(t, db.Collection("events"), DeterministicID(record))
		if got == nil {
			t.Fatal("catalog document not found")
		}
		// The payload has no _id: the stored document starts with the
		// deterministic one.
		if first, _ := got.IndexErr(0); first.Key() != "_id" {
			t.Errorf("first field is %q, want _id", first.Key())
		}
		elems, _ := got.Elements()
		withoutID := bson.Raw(appendDocumentOf(elems[1:]))
		if diff := documentDiff("", want, withoutID, DefaultMetadataField); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestMetadataAndTimestampFields checks the metadata sub-document and the
// publish time field, with their names and types.
func TestMetadataAndTimestampFields(t *testing.T) {
	s, db := openSink(t, Config{MetadataField: "meta", TimestampField: "published"})
	record := newRecord(41, `{"_id":"m1","v":1}`)
	record.Partition = 3
	record.PartitionTopic = testTopic + "-part-3"
	record.Key = "customer-7"
	record.Attributes = map[string]string{"b": "2", "a": "1"}
	if err := s.Write(testContext(t), []*sink.Record{record}); err != nil {
		t.Fatalf("Write: %v", err)
	}

	got := findByID(t, db.Collection("events"), "m1")
	publish := bson.NewDateTimeFromTime(record.PublishTime)
	wantMeta := bson.D{
		{Key: "topic", Value: testTopic},
		{Key: "partition", Value: int32(3)},
		{Key: "offset", Value: int64(41)},
		{Key: "producer", Value: "test-producer"},
		{Key: "publish_time", Value: publish},
		{Key: "key", Value: "customer-7"},
		{Key: "attributes", Value: bson.D{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}},
	}
	wantDoc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "m1"},
		{Key: "v", Value: int32(1)},
		{Key: "meta", Value: wantMeta},
		{Key: "published", Value: publish},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := documentDiff("", wantDoc, got, ""); diff != "" {
		t.Error(diff)
	}
}

// TestOmitMetadataStoresPayloadOnly checks that OmitMetadata leaves the
// payload's fields alone in the document.
func TestOmitMetadataStoresPayloadOnly(t *testing.T) {
	s, db := openSink(t, Config{OmitMetadata: true})
	if err := s.Write(testContext(t), []*sink.Record{newRecord(0, `{"_id":1,"v":"x"}`)}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	want, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "x"}})
	if diff := documentDiff("", want, findByID(t, db.Collection("events"), 1), ""); diff != "" {
		t.Error(diff)
	}
}

// TestBigIntegerIsDecimal128 writes an integer beyond the int64 range, which
// the sink stores exactly as a Decimal128. FerretDB 1.24 closes the
// connection on any Decimal128, so there the write is reported retryable
// for the whole request, and nothing is acknowledged unwritten.
func TestBigIntegerIsDecimal128(t *testing.T) {
	s, db := openSink(t, Config{})
	record := newRecord(0, `{"_id":"big","n":123456789012345678901234567890}`)
	err := s.Write(testContext(t), []*sink.Record{record})

	if !mongotest.Real() {
		failed := failures(t, err)
		if got := sink.ClassOf(failed[0]); got != sink.ErrRetryable {
			t.Fatalf("on FerretDB: record 0 class %v (%v), want retryable", got, failed[0])
		}
		return
	}
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	got := findByID(t, db.Collection("events"), "big")
	n := got.Lookup("n")
	if n.Type != bson.TypeDecimal128 || n.Decimal128().String() != "123456789012345678901234567890" {
		t.Errorf("n = %v (%v), want Decimal128 123456789012345678901234567890", n, n.Type)
	}
}

// allByID reads every document of coll, by _id.
func allByID(t testing.TB, coll *mongo.Collection) map[string]bson.Raw {
	t.Helper()
	ctx := testContext(t)
	cursor, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("find in %s: %v", coll.Name(), err)
	}
	defer cursor.Close(ctx)
	docs := map[string]bson.Raw{}
	for cursor.Next(ctx) {
		doc := bson.Raw(bytes.Clone(cursor.Current))
		docs[idKey(doc.Lookup("_id"))] = doc
	}
	if err := cursor.Err(); err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	return docs
}

func appendDocumentOf(elems []bson.RawElement) []byte {
	doc := []byte{0, 0, 0, 0}
	for _, e := range elems {
		doc = append(doc, e...)
	}
	return closeDocument(doc, 0)
}
