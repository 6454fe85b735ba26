package mongodb

import (
	"errors"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestIDStrategies(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		record  func() *sink.Record
		wantID  any // nil: an ObjectId the driver strategy made
		wantErr string
	}{
		{
			name:   "deterministic",
			cfg:    Config{IDStrategy: IDDeterministic},
			record: func() *sink.Record { r := newRecord(1041, `{"v":1}`); r.Partition = 2; return r },
			wantID: testTopic + ":2:1041:1714979289123",
		},
		{
			name:   "deterministic keeps a payload _id",
			cfg:    Config{IDStrategy: IDDeterministic},
			record: func() *sink.Record { return newRecord(5, `{"_id":"mine","v":1}`) },
			wantID: "mine",
		},
		{
			name:   "deterministic with overwrite replaces a payload _id",
			cfg:    Config{IDStrategy: IDDeterministic, IDOverwrite: true},
			record: func() *sink.Record { return newRecord(5, `{"_id":"mine","v":1}`) },
			wantID: testTopic + ":0:5:1714979289123",
		},
		{
			name:   "driver",
			cfg:    Config{IDStrategy: IDDriver},
			record: func() *sink.Record { return newRecord(0, `{"v":1}`) },
		},
		{
			name:   "driver keeps a payload _id even with overwrite",
			cfg:    Config{IDStrategy: IDDriver, IDOverwrite: true},
			record: func() *sink.Record { return newRecord(0, `{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"v":1}`) },
			wantID: mustObjectID("5ca4bbc7a2dd94ee5816238c"),
		},
		{
			name:   "key",
			cfg:    Config{IDStrategy: IDKey},
			record: func() *sink.Record { r := newRecord(0, `{"v":1}`); r.Key = "customer-9"; return r },
			wantID: "customer-9",
		},
		{
			name:    "key missing",
			cfg:     Config{IDStrategy: IDKey},
			record:  func() *sink.Record { return newRecord(0, `{"v":1}`) },
			wantErr: "_id",
		},
		{
			name: "attribute",
			cfg:  Config{IDField: "order-id"},
			record: func() *sink.Record {
				r := newRecord(0, `{"v":1}`)
				r.Attributes = map[string]string{"order-id": "o-17"}
				return r
			},
			wantID: "o-17",
		},
		{
			name:    "attribute missing",
			cfg:     Config{IDStrategy: IDAttribute, IDField: "order-id"},
			record:  func() *sink.Record { return newRecord(0, `{"v":1}`) },
			wantErr: "_id",
		},
		{
			name:   "field keeps its type",
			cfg:    Config{IDStrategy: IDField, IDField: "order.number"},
			record: func() *sink.Record { return newRecord(0, `{"order":{"number":{"$numberLong":"9000000001"}},"v":1}`) },
			wantID: int64(9000000001),
		},
		{
			name:   "field as a document",
			cfg:    Config{IDStrategy: IDField, IDField: "key"},
			record: func() *sink.Record { return newRecord(0, `{"key":{"a":1,"b":"x"}}`) },
			wantID: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: "x"}},
		},
		{
			name:    "field missing",
			cfg:     Config{IDStrategy: IDField, IDField: "order.number"},
			record:  func() *sink.Record { return newRecord(0, `{"order":{}}`) },
			wantErr: "order.number",
		},
		{
			name:    "field that is an array",
			cfg:     Config{IDStrategy: IDField, IDField: "tags"},
			record:  func() *sink.Record { return newRecord(0, `{"tags":[1]}`) },
			wantErr: "tags",
		},
		{
			name:    "field of a payload that is not JSON",
			cfg:     Config{IDStrategy: IDField, IDField: "id"},
			record:  func() *sink.Record { return newRecord(0, `plain text`) },
			wantErr: "id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db := openSink(t, tt.cfg)
			err := s.Write(testContext(t), []*sink.Record{tt.record()})
			coll := db.Collection("events")

			if tt.wantErr != "" {
				failed := failures(t, err)
				var docErr *DocumentError
				if !errors.As(failed[0], &docErr) || docErr.Field != tt.wantErr || !errors.Is(failed[0], sink.ErrInvalidData) {
					t.Fatalf("Write: %v, want invalid data naming %q", failed[0], tt.wantErr)
				}
				if n := count(t, coll, nil); n != 0 {
					t.Errorf("collection holds %d documents, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Write: %v", err)
			}

			var doc bson.Raw
			if tt.wantID == nil {
				doc, err = coll.FindOne(testContext(t), bson.D{}).Raw()
				if err != nil {
					t.Fatal(err)
				}
				if id := doc.Lookup("_id"); id.Type != bson.TypeObjectID {
					t.Fatalf("_id %v is a %v, want an ObjectId", id, id.Type)
				}
			} else if doc = findByID(t, coll, tt.wantID); doc == nil {
				t.Fatalf("no document with _id %v", tt.wantID)
			}
			if first, _ := doc.IndexErr(0); first.Key() != "_id" {
				t.Errorf("first field is %q, want _id", first.Key())
			}
			if n := count(t, coll, nil); n != 1 {
				t.Errorf("collection holds %d documents, want 1", n)
			}
		})
	}
}

func TestDeterministicIDIsUniqueAcrossTopicsAndPartitions(t *testing.T) {
	ids := map[string]bool{}
	for _, topic := range []string{"/default/a", "/default/a:1", "/other/a"} {
		for partition := range 3 {
			for offset := range uint64(12) {
				id := DeterministicID(&sink.Record{Topic: topic, Partition: partition, Offset: offset})
				if ids[id] {
					t.Fatalf("id %q given twice", id)
				}
				ids[id] = true
			}
		}
	}
	if got := DeterministicID(&sink.Record{Topic: "/default/orders", Partition: 2, Offset: 1041}); got != "/default/orders:2:1041:0" {
		t.Errorf("DeterministicID without a publish time = %q", got)
	}
}

// TestDeterministicIDAfterOffsetsStartOver covers a topic whose offsets
// started over, because it was created again or its broker lost them. A
// new message at an old offset must not get the old message's _id. A
// redelivery keeps its publish time, so it must get the same _id.
func TestDeterministicIDAfterOffsetsStartOver(t *testing.T) {
	published := time.Date(2026, 12, 5, 6, 30, 0, 0, time.UTC)
	old := &sink.Record{Topic: "/default/orders", Offset: 7, PublishTime: published}
	redelivered := *old
	redelivered.Attempt = 2
	reused := *old
	reused.PublishTime = published.Add(time.Hour)

	if DeterministicID(&redelivered) != DeterministicID(old) {
		t.Errorf("redelivery got %q, first delivery %q", DeterministicID(&redelivered), DeterministicID(old))
	}
	if DeterministicID(&reused) == DeterministicID(old) {
		t.Errorf("a new message at a reused offset got the old message's id %q", DeterministicID(old))
	}
	if got, want := DeterministicID(old), "/default/orders:0:7:1796452200000"; got != want {
		t.Errorf("DeterministicID = %q, want %q", got, want)
	}
}

func mustObjectID(hex string) bson.ObjectID {
	oid, err := bson.ObjectIDFromHex(hex)
	if err != nil {
		panic(err)
	}
	return oid
}
