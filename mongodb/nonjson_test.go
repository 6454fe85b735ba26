package mongodb

import (
	"errors"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestNonJSONPayloadsAreStored(t *testing.T) {
	binary := func(b string) bson.Binary { return bson.Binary{Subtype: 0, Data: []byte(b)} }
	tests := []struct {
		name    string
		payload string
		want    any
	}{
		{"text", "hello, world", binary("hello, world")},
		{"bytes that are not UTF-8", "\xff\xfe\x00\x01", binary("\xff\xfe\x00\x01")},
		{"empty", "", binary("")},
		{"broken JSON object", `{"a":`, binary(`{"a":`)},
		{"two JSON objects", `{"a":1}{"b":2}`, binary(`{"a":1}{"b":2}`)},
		{"JSON array", `[1,"two",{"three":3}]`, bson.A{int32(1), "two", bson.D{{Key: "three", Value: int32(3)}}}},
		{"JSON string", `"just a string"`, "just a string"},
		{"JSON number", ` 12345678901 `, int64(12345678901)},
		{"JSON null", `null`, nil},
	}
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered, PayloadField: "body"})
		records := make([]*sink.Record, len(tests))
		for i, tt := range tests {
			records[i] = newRecord(uint64(i), tt.payload)
		}
		if err := s.Write(testContext(t), records); err != nil {
			t.Fatalf("Write: %v", err)
		}

		coll := db.Collection("events")
		for i, tt := range tests {
			got := findByID(t, coll, DeterministicID(records[i]))
			if got == nil {
				t.Errorf("%s: not stored", tt.name)
				continue
			}
			want, err := bson.Marshal(bson.D{{Key: "_id", Value: DeterministicID(records[i])}, {Key: "body", Value: tt.want}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := documentDiff("", want, got, DefaultMetadataField); diff != "" {
				t.Errorf("%s: %s", tt.name, diff)
			}
			if got.Lookup(DefaultMetadataField, "offset").Int64() != int64(i) {
				t.Errorf("%s: metadata offset %v, want %d", tt.name, got.Lookup(DefaultMetadataField, "offset"), i)
			}
		}
	})
}

func TestNonJSONPayloadsRejectedOnRequest(t *testing.T) {
	s, db := openSink(t, Config{NonJSON: NonJSONReject})
	err := s.Write(testContext(t), []*sink.Record{
		newRecord(0, `{"ok":true}`),
		newRecord(1, `not json`),
		newRecord(2, `[1,2]`),
		newRecord(3, ``),
		newRecord(4, `{"ok":true}`),
	})

	got := failures(t, err)
	wantFailures(t, got, map[int]sink.Class{1: sink.ErrInvalidData, 2: sink.ErrInvalidData, 3: sink.ErrInvalidData})
	for _, i := range []int{1, 2, 3} {
		if !errors.Is(got[i], ErrNotJSONObject) {
			t.Errorf("record %d: %v, want ErrNotJSONObject", i, got[i])
		}
	}
	if n := count(t, db.Collection("events"), nil); n != 2 {
		t.Errorf("collection holds %d documents, want 2", n)
	}
}
