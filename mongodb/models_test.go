package mongodb

import (
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestWriteModels(t *testing.T) {
	keyed := func(offset uint64, key, payload string) *sink.Record {
		r := newRecord(offset, payload)
		r.Key = key
		return r
	}
	deleteOf := func(offset uint64, key string) *sink.Record {
		r := keyed(offset, key, `{}`)
		r.Attributes = map[string]string{"x-operation": "delete"}
		return r
	}

	tests := []struct {
		name    string
		cfg     Config
		batches [][]*sink.Record
		want    map[string]bson.D // _id -> fields besides _id and metadata; nil value: absent
	}{
		{
			name: "insert keeps the first write",
			cfg:  Config{WriteModel: WriteInsert, IDStrategy: IDKey, OmitMetadata: true},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1,"w":1}`)},
			},
			want: map[string]bson.D{"a": {{Key: "v", Value: int32(1)}, {Key: "w", Value: int32(1)}}},
		},
		{
			name: "replace keeps the last write",
			cfg:  Config{WriteModel: WriteReplace, IDStrategy: IDKey, OmitMetadata: true},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1,"w":1}`), keyed(1, "b", `{"v":1}`)},
				{keyed(2, "a", `{"v":2}`)},
			},
			want: map[string]bson.D{"a": {{Key: "v", Value: int32(2)}}, "b": {{Key: "v", Value: int32(1)}}},
		},
		{
			name: "update sets fields and keeps the others",
			cfg:  Config{WriteModel: WriteUpdate, IDStrategy: IDKey, OmitMetadata: true},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1,"w":1}`)},
				{keyed(1, "a", `{"v":2,"x":{"y":true}}`)},
			},
			want: map[string]bson.D{"a": {{Key: "v", Value: int32(2)}, {Key: "w", Value: int32(1)}, {Key: "x", Value: bson.D{{Key: "y", Value: true}}}}},
		},
		{
			name: "delete by attribute",
			cfg:  Config{WriteModel: WriteReplace, IDStrategy: IDKey, OmitMetadata: true, DeleteAttribute: "x-operation"},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1}`), keyed(1, "b", `{"v":1}`)},
				{deleteOf(2, "a"), deleteOf(3, "never-written")},
			},
			want: map[string]bson.D{"a": nil, "b": {{Key: "v", Value: int32(1)}}},
		},
		{
			name: "delete on empty payload",
			cfg:  Config{WriteModel: WriteInsert, IDStrategy: IDKey, OmitMetadata: true, DeleteOnEmptyPayload: true},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1}`), keyed(1, "b", `{"v":1}`)},
				{keyed(2, "a", ``)},
			},
			want: map[string]bson.D{"a": nil, "b": {{Key: "v", Value: int32(1)}}},
		},
		{
			name: "writes to one document apply in batch order",
			cfg:  Config{WriteModel: WriteUpdate, IDStrategy: IDKey, OmitMetadata: true, DeleteAttribute: "x-operation"},
			batches: [][]*sink.Record{
				{keyed(0, "a", `{"v":1}`), deleteOf(1, "a"), keyed(2, "a", `{"v":3}`), keyed(3, "b", `{"v":1}`), deleteOf(4, "b")},
			},
			want: map[string]bson.D{"a": {{Key: "v", Value: int32(3)}}, "b": nil},
		},
		{
			name: "delete by a payload field",
			cfg:  Config{WriteModel: WriteReplace, IDStrategy: IDField, IDField: "sku", OmitMetadata: true, DeleteAttribute: "op", DeleteValue: "gone"},
			batches: [][]*sink.Record{
				{newRecord(0, `{"sku":"s1","n":1}`), newRecord(1, `{"sku":"s2","n":1}`)},
				{func() *sink.Record {
					r := newRecord(2, `{"sku":"s1"}`)
					r.Attributes = map[string]string{"op": "gone"}
					return r
				}()},
			},
			want: map[string]bson.D{"s1": nil, "s2": {{Key: "sku", Value: "s2"}, {Key: "n", Value: int32(1)}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modes(t, func(t *testing.T, ordered bool) {
				cfg := tt.cfg
				cfg.OrderedInserts = ordered
				s, db := openSink(t, cfg)
				for i, batch := range tt.batches {
					if err := s.Write(testContext(t), batch); err != nil {
						t.Fatalf("batch %d: %v", i, err)
					}
				}

				coll := db.Collection("events")
				present := 0
				for id, fields := range tt.want {
					got := findByID(t, coll, id)
					if fields == nil {
						if got != nil {
							t.Errorf("document %q exists: %v", id, got)
						}
						continue
					}
					present++
					want, err := bson.Marshal(append(bson.D{{Key: "_id", Value: id}}, fields...))
					if err != nil {
						t.Fatal(err)
					}
					if got == nil {
						t.Errorf("document %q missing", id)
					} else if diff := documentDiff("", want, got, ""); diff != "" {
						t.Errorf("document %q: %s", id, diff)
					}
				}
				if n := count(t, coll, nil); n != int64(present) {
					t.Errorf("collection holds %d documents, want %d", n, present)
				}
			})
		})
	}
}

func TestCollectionRouting(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{
			OrderedInserts:  ordered,
			Collection:      "fallback",
			Collections:     map[string]string{"/default/orders": "orders", "/default/users": "users"},
			CollectionField: "meta.kind",
		})
		record := func(topic string, offset uint64, payload string) *sink.Record {
			r := newRecord(offset, payload)
			r.Topic, r.PartitionTopic = topic, topic
			return r
		}
		err := s.Write(testContext(t), []*sink.Record{
			record("/default/orders", 0, `{"n":0}`),
			record("/default/users", 0, `{"n":1}`),
			record("/default/orders", 1, `{"n":2,"meta":{"kind":"returns"}}`),
			record("/default/other", 0, `{"n":3}`),
			record("/default/orders", 2, `not json`),
			record("/default/orders", 3, `{"n":5,"meta":{"kind":7}}`),
			record("/default/orders", 4, `{"n":6,"meta":{"kind":"system.views"}}`),
			record("/default/users", 1, `{"n":7}`),
		})

		got := failures(t, err)
		wantFailures(t, got, map[int]sink.Class{5: sink.ErrInvalidData, 6: sink.ErrInvalidData})
		for coll, want := range map[string]int64{"orders": 2, "users": 2, "returns": 1, "fallback": 1} {
			if n := count(t, db.Collection(coll), nil); n != want {
				t.Errorf("collection %s holds %d documents, want %d", coll, n, want)
			}
		}
	})
}
