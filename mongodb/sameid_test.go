package mongodb

import (
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSameIDPerWriteModel writes two messages with the same _id and
// different content, in one batch and in two. It checks what each write
// model stores and how it settles each message, as docs/guarantees.md
// describes. No check depends on a way in which FerretDB differs from
// MongoDB.
func TestSameIDPerWriteModel(t *testing.T) {
	keyed := func(offset uint64, payload string) *sink.Record {
		r := newRecord(offset, payload)
		r.Key = "customer-7"
		return r
	}
	deleteOf := func(offset uint64, payload string) *sink.Record {
		r := keyed(offset, payload)
		r.Attributes = map[string]string{"op": "delete"}
		return r
	}

	tests := []struct {
		name          string
		cfg           Config
		seed          []*sink.Record // written before the two messages
		first, second *sink.Record
		want          bson.D     // stored fields besides _id; nil: no document
		wantSecond    sink.Class // the second message's failure; nil: written
	}{
		{
			name:       "insert keeps the first and rejects the second",
			cfg:        Config{WriteModel: WriteInsert},
			first:      keyed(1, `{"v":1,"w":1}`),
			second:     keyed(2, `{"v":2}`),
			want:       bson.D{{Key: "v", Value: int32(1)}, {Key: "w", Value: int32(1)}},
			wantSecond: sink.ErrInvalidData,
		},
		{
			name:   "replace keeps the second",
			cfg:    Config{WriteModel: WriteReplace},
			first:  keyed(1, `{"v":1,"w":1}`),
			second: keyed(2, `{"v":2}`),
			want:   bson.D{{Key: "v", Value: int32(2)}},
		},
		{
			name:   "update merges the second into the first",
			cfg:    Config{WriteModel: WriteUpdate},
			first:  keyed(1, `{"v":1,"w":1}`),
			second: keyed(2, `{"v":2,"x":2}`),
			want:   bson.D{{Key: "v", Value: int32(2)}, {Key: "w", Value: int32(1)}, {Key: "x", Value: int32(2)}},
		},
		{
			name:   "second delete finds nothing and is written",
			cfg:    Config{WriteModel: WriteInsert, DeleteAttribute: "op"},
			seed:   []*sink.Record{keyed(0, `{"v":0}`)},
			first:  deleteOf(1, `{"v":1}`),
			second: deleteOf(2, `{"v":2}`),
		},
		{
			name:   "insert after a delete stores a new document",
			cfg:    Config{WriteModel: WriteInsert, DeleteAttribute: "op"},
			seed:   []*sink.Record{keyed(0, `{"v":0}`)},
			first:  deleteOf(1, `{}`),
			second: keyed(2, `{"v":2}`),
			want:   bson.D{{Key: "v", Value: int32(2)}},
		},
		{
			name:   "delete after an insert leaves no document",
			cfg:    Config{WriteModel: WriteInsert, DeleteAttribute: "op"},
			first:  keyed(1, `{"v":1}`),
			second: deleteOf(2, `{}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneBatch := range []bool{true, false} {
				name := "two batches"
				if oneBatch {
					name = "one batch"
				}
				t.Run(name, func(t *testing.T) {
					modes(t, func(t *testing.T, ordered bool) {
						cfg := tt.cfg
						cfg.IDStrategy = IDKey
						cfg.OmitMetadata = true
						cfg.OrderedInserts = ordered
						s, db := openSink(t, cfg)
						if len(tt.seed) > 0 {
							writeAll(t, s, tt.seed, len(tt.seed))
						}

						got := map[int]error{}
						if oneBatch {
							got = failures(t, s.Write(testContext(t), []*sink.Record{tt.first, tt.second}))
						} else {
							for i, r := range []*sink.Record{tt.first, tt.second} {
								if err := failures(t, s.Write(testContext(t), []*sink.Record{r}))[0]; err != nil {
									got[i] = err
								}
							}
						}

						want := map[int]sink.Class{}
						if tt.wantSecond != nil {
							want[1] = tt.wantSecond
						}
						wantFailures(t, got, want)
						if tt.wantSecond == sink.ErrInvalidData && got[1] != nil && !strings.Contains(got[1].Error(), "a different document with _id") {
							t.Errorf("second message's failure %q does not name the different document", got[1])
						}

						coll := db.Collection("events")
						stored := findByID(t, coll, "customer-7")
						switch {
						case tt.want == nil && stored != nil:
							t.Errorf("document customer-7 exists: %v", stored)
						case tt.want != nil && stored == nil:
							t.Errorf("document customer-7 missing")
						case tt.want != nil:
							wantDoc, err := bson.Marshal(append(bson.D{{Key: "_id", Value: "customer-7"}}, tt.want...))
							if err != nil {
								t.Fatal(err)
							}
							if diff := documentDiff("", wantDoc, stored, ""); diff != "" {
								t.Errorf("document customer-7: %s", diff)
							}
						}
						if n := count(t, coll, nil); n > 1 {
							t.Errorf("collection holds %d documents, want at most 1", n)
						}
					})
				})
			}
		})
	}
}
