package mongodb

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// wantClass fails the test unless err carries class.
func wantClass(t testing.TB, name string, err error, class sink.Class) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no failure, want %v", name, class)
		return
	}
	if got := sink.ClassOf(err); got != class {
		t.Errorf("%s: class %v (%v), want %v", name, got, err, class)
	}
}

// wantFailures fails the test unless the failures are exactly the given
// indexes with their classes.
func wantFailures(t testing.TB, got map[int]error, want map[int]sink.Class) {
	t.Helper()
	for i, err := range got {
		class, ok := want[i]
		if !ok {
			t.Errorf("record %d failed unexpectedly: %v", i, err)
			continue
		}
		wantClass(t, "record "+itoa(i), err, class)
	}
	for i, class := range want {
		if _, ok := got[i]; !ok {
			t.Errorf("record %d was reported written, want %v", i, class)
		}
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(dst []byte, i int) []byte {
	if i >= 10 {
		dst = appendInt(dst, i/10)
	}
	return append(dst, byte('0'+i%10))
}

func TestDuplicateDeterministicIDIsWritten(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		first := []*sink.Record{newRecord(0, `{"v":0}`), newRecord(1, `{"v":1}`), newRecord(2, `{"v":2}`), newRecord(3, `{"v":3}`)}
		writeAll(t, s, first, 10)

		// A redelivery of 1 and 3 among new records.
		second := []*sink.Record{first[1], newRecord(4, `{"v":4}`), newRecord(5, `{"v":5}`), first[3], newRecord(6, `{"v":6}`)}
		if err := s.Write(testContext(t), second); err != nil {
			t.Fatalf("Write with redelivered records: %v", err)
		}
		if got := count(t, db.Collection("events"), nil); got != 7 {
			t.Errorf("collection holds %d documents, want 7", got)
		}
	})
}

func TestDifferentDocumentWithSameIDIsInvalidData(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		writeAll(t, s, []*sink.Record{newRecord(0, `{"_id":"k","v":1}`)}, 1)

		err := s.Write(testContext(t), []*sink.Record{
			newRecord(1, `{"_id":"a"}`),
			newRecord(2, `{"_id":"k","v":2}`),
			newRecord(3, `{"_id":"b"}`),
		})

		wantFailures(t, failures(t, err), map[int]sink.Class{1: sink.ErrInvalidData})
		coll := db.Collection("events")
		if got := count(t, coll, nil); got != 3 {
			t.Errorf("collection holds %d documents, want 3", got)
		}
		if v := findByID(t, coll, "k").Lookup("v"); v.Int32() != 1 {
			t.Errorf("k.v = %v, want the first write, 1", v)
		}
	})
}

// TestRepublishedPayloadIsWritten publishes a payload with its own _id a
// second time, as a new message with a later offset: its metadata and
// timestamp differ, but the payload is the stored one, so the insert counts
// as written and the first delivery's metadata stays.
func TestRepublishedPayloadIsWritten(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered, TimestampField: "published_at"})
		writeAll(t, s, []*sink.Record{newRecord(0, `{"_id":"k","v":1}`)}, 1)

		again := newRecord(7, `{"_id":"k","v":1}`)
		again.PublishTime = again.PublishTime.Add(time.Hour)
		if err := s.Write(testContext(t), []*sink.Record{newRecord(6, `{"_id":"a"}`), again}); err != nil {
			t.Fatalf("Write of the republished payload: %v", err)
		}

		coll := db.Collection("events")
		if got := count(t, coll, nil); got != 2 {
			t.Errorf("collection holds %d documents, want 2", got)
		}
		offset := findByID(t, coll, "k").Lookup(DefaultMetadataField, "offset")
		if got, ok := offset.AsInt64OK(); !ok || got != 0 {
			t.Errorf("stored metadata offset = %v, want the first delivery's, 0", offset)
		}
	})
}

// TestInvalidDocumentFailsAloneAndRestIsWritten fails one record on the
// server (a duplicate on a unique index other than _id) and one before
// sending (an Extended JSON value that does not parse).
func TestInvalidDocumentFailsAloneAndRestIsWritten(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		coll := db.Collection("events")
		_, err := coll.Indexes().CreateOne(testContext(t), mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)})
		if err != nil {
			t.Fatalf("create unique index: %v", err)
		}

		err = s.Write(testContext(t), []*sink.Record{
			newRecord(0, `{"email":"a@example.com"}`),
			newRecord(1, `{"email":"a@example.com"}`),
			newRecord(2, `{"email":"b@example.com"}`),
			newRecord(3, `{"email":"c@example.com","id":{"$oid":"not hex"}}`),
			newRecord(4, `{"email":"d@example.com"}`),
		})

		got := failures(t, err)
		wantFailures(t, got, map[int]sink.Class{1: sink.ErrInvalidData, 3: sink.ErrInvalidData})
		var docErr *DocumentError
		if !errors.As(got[3], &docErr) || docErr.Field != "id" {
			t.Errorf("record 3: %v, want a DocumentError on field id", got[3])
		}
		for _, email := range []string{"a@example.com", "b@example.com", "d@example.com"} {
			if n := count(t, coll, bson.D{{Key: "email", Value: email}}); n != 1 {
				t.Errorf("%d documents with email %s, want 1", n, email)
			}
		}
		if n := count(t, coll, nil); n != 3 {
			t.Errorf("collection holds %d documents, want 3", n)
		}
	})
}

// TestNestedDollarFieldNameDependsOnServer writes a nested field name that
// starts with '$'. MongoDB 5.0 and later store it; FerretDB 1.24 rejects
// it (code 2), which the sink reports as invalid data for that record
// alone.
func TestNestedDollarFieldNameDependsOnServer(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		err := s.Write(testContext(t), []*sink.Record{
			newRecord(0, `{"_id":0}`),
			newRecord(1, `{"_id":1,"price":{"$amount":5}}`),
			newRecord(2, `{"_id":2}`),
		})

		coll := db.Collection("events")
		if mongotest.Real() {
			wantFailures(t, failures(t, err), nil)
			if findByID(t, coll, 1) == nil {
				t.Error("document 1 not stored")
			}
		} else {
			got := failures(t, err)
			wantFailures(t, got, map[int]sink.Class{1: sink.ErrInvalidData})
			var we mongo.WriteError
			if !errors.As(got[1], &we) || we.Code != 2 {
				t.Errorf("record 1: %v, want FerretDB's write error with code 2", got[1])
			}
		}
		for _, id := range []int{0, 2} {
			if findByID(t, coll, id) == nil {
				t.Errorf("document %d not stored", id)
			}
		}
	})
}

// TestOversizedDocumentCaughtBeforeSending checks the 16 MiB limit on the
// document with its metadata. FerretDB would store the oversized document,
// so its absence shows that the sink did not send it.
func TestOversizedDocumentCaughtBeforeSending(t *testing.T) {
	// {"_id":"x","blob":"..."} is 27 bytes of BSON besides the string.
	fits := MaxDocumentSize - 27
	payload := func(id string, n int) string {
		return `{"_id":"` + id + `","blob":"` + strings.Repeat("x", n) + `"}`
	}
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		err := s.Write(testContext(t), []*sink.Record{
			newRecord(0, `{"_id":"a"}`),
			newRecord(1, payload("x", fits)),
			newRecord(2, `{"_id":"b"}`),
		})

		got := failures(t, err)
		wantFailures(t, got, map[int]sink.Class{1: sink.ErrInvalidData})
		var docErr *DocumentError
		if !errors.As(got[1], &docErr) || docErr.Field != "blob" {
			t.Errorf("record 1: %v, want a DocumentError naming field blob", got[1])
		}
		coll := db.Collection("events")
		if findByID(t, coll, "x") != nil {
			t.Error("the oversized document was stored")
		}
		if n := count(t, coll, nil); n != 2 {
			t.Errorf("collection holds %d documents, want 2", n)
		}
	})

	t.Run("at the limit without metadata", func(t *testing.T) {
		s, db := openSink(t, Config{OmitMetadata: true})
		if err := s.Write(testContext(t), []*sink.Record{newRecord(0, payload("x", fits))}); err != nil {
			t.Fatalf("Write of a %d-byte document: %v", MaxDocumentSize, err)
		}
		if findByID(t, db.Collection("events"), "x") == nil {
			t.Error("the document at the limit was not stored")
		}
	})
}

func TestBadFieldNamesCaughtBeforeSending(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		payload   string
		wantField string
	}{
		{"top-level dollar", Config{}, `{"$set":{"a":1}}`, "$set"},
		{"top-level dollar in replace", Config{WriteModel: WriteReplace}, `{"$inc":{"a":1}}`, "$inc"},
		{"NUL in a nested name", Config{}, `{"a":{"b\u0000":1}}`, "a.b\x00"},
		{"metadata field in payload", Config{}, `{"_danube":1}`, "_danube"},
		{"timestamp field in payload", Config{TimestampField: "ts"}, `{"ts":1}`, "ts"},
		{"dotted name in update", Config{WriteModel: WriteUpdate}, `{"a.b":1}`, "a.b"},
		{"empty name in update", Config{WriteModel: WriteUpdate}, `{"":1}`, ""},
		{"array _id", Config{}, `{"_id":[1,2]}`, "_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			modes(t, func(t *testing.T, ordered bool) {
				cfg := tt.cfg
				cfg.OrderedInserts = ordered
				var mu sync.Mutex
				var sent int
				monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
					if e.CommandName == "insert" || e.CommandName == "update" {
						mu.Lock()
						sent += documentsIn(e.Command)
						mu.Unlock()
					}
				}}
				s, db := openSink(t, cfg, WithClientOptions(func(o *options.ClientOptions) { o.SetMonitor(monitor) }))

				err := s.Write(testContext(t), []*sink.Record{newRecord(0, `{"v":0}`), newRecord(1, tt.payload), newRecord(2, `{"v":2}`)})

				got := failures(t, err)
				wantFailures(t, got, map[int]sink.Class{1: sink.ErrInvalidData})
				var docErr *DocumentError
				if !errors.As(got[1], &docErr) || docErr.Field != tt.wantField {
					t.Errorf("record 1: %v, want a DocumentError naming %q", got[1], tt.wantField)
				}
				if n := count(t, db.Collection("events"), nil); n != 2 {
					t.Errorf("collection holds %d documents, want 2", n)
				}
				mu.Lock()
				defer mu.Unlock()
				if sent != 2 {
					t.Errorf("%d documents sent to the server, want 2", sent)
				}
			})
		})
	}
}

// documentsIn counts the documents of an insert or update command.
func documentsIn(cmd bson.Raw) int {
	for _, key := range []string{"documents", "updates"} {
		if v, err := cmd.LookupErr(key); err == nil {
			values, _ := v.Array().Values()
			return len(values)
		}
	}
	return 0
}

// failAfterFirstInsert returns client options whose monitor calls fail once,
// after the first insert command succeeded.
func failAfterFirstInsert(fail func()) Option {
	var once sync.Once
	monitor := &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		if e.CommandName == "insert" {
			once.Do(fail)
		}
	}}
	return WithClientOptions(func(o *options.ClientOptions) { o.SetMonitor(monitor) })
}

// TestFailureMidwayRetriesOnlyUnwritten splits a batch into bulk requests of
// three and makes the second fail: on the embedded server by stopping it, on
// a real one by cancelling the write. The first request's records are
// written; the others are retryable and not stored.
func TestFailureMidwayRetriesOnlyUnwritten(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()

		var uri string
		var restart func()
		var fail func()
		if mongotest.Real() {
			uri = mongotest.URI(t)
			fail, restart = cancel, func() {}
		} else {
			srv := mongotest.StartServer(t, "")
			uri = srv.URI()
			fail = func() {
				if err := srv.Stop(); err != nil {
					t.Errorf("stop server: %v", err)
				}
			}
			restart = func() {
				if err := srv.Restart(); err != nil {
					t.Fatalf("restart server: %v", err)
				}
			}
		}
		client := mongotest.Connect(t, uri)
		db := client.Database(mongotest.DatabaseName(t))
		s := openSinkOn(t, uri, db, Config{OrderedInserts: ordered, Timeout: 5 * time.Second}, failAfterFirstInsert(fail))
		s.maxChunkDocs = 3

		records := make([]*sink.Record, 9)
		for i := range records {
			records[i] = newRecord(uint64(i), `{"n":`+itoa(i)+`}`)
		}
		err := s.Write(ctx, records)

		got := failures(t, err)
		want := map[int]sink.Class{}
		for i := 3; i < 9; i++ {
			want[i] = sink.ErrRetryable
		}
		wantFailures(t, got, want)

		restart()
		coll := db.Collection("events")
		for i, r := range records {
			stored := findByID(t, coll, DeterministicID(r)) != nil
			if stored != (i < 3) {
				t.Errorf("record %d stored = %v, want %v", i, stored, i < 3)
			}
		}

		// The retry writes the rest.
		if err := s.Write(testContext(t), records[3:]); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if n := count(t, coll, nil); n != 9 {
			t.Errorf("collection holds %d documents after the retry, want 9", n)
		}
		db.Drop(testContext(t))
	})
}

// TestClosedClientFailsBatchAsRetryable closes the driver's client under the
// sink: nothing of the batch is written and all of it is retryable, and a new
// Open recovers.
func TestClosedClientFailsBatchAsRetryable(t *testing.T) {
	s, db := openSink(t, Config{})
	if err := s.conn.Load().client.Disconnect(testContext(t)); err != nil {
		t.Fatalf("disconnect: %v", err)
	}

	records := []*sink.Record{newRecord(0, `{"v":0}`), newRecord(1, `{"v":1}`)}
	wantFailures(t, failures(t, s.Write(testContext(t), records)), map[int]sink.Class{0: sink.ErrRetryable, 1: sink.ErrRetryable})
	if n := count(t, db.Collection("events"), nil); n != 0 {
		t.Errorf("collection holds %d documents, want 0", n)
	}

	if err := s.Open(testContext(t)); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Write(testContext(t), records); err != nil {
		t.Fatalf("Write after reopen: %v", err)
	}
}

// TestServerDownFailsBatchAsRetryable writes while the server is down and
// again once it is back.
func TestServerDownFailsBatchAsRetryable(t *testing.T) {
	if mongotest.Real() {
		// A real server cannot be stopped by the test; a client that
		// cannot reach it fails the same way.
		s, _ := openSink(t, Config{})
		s.conn.Load().client.Disconnect(testContext(t))
		err := s.Write(testContext(t), []*sink.Record{newRecord(0, `{}`)})
		wantFailures(t, failures(t, err), map[int]sink.Class{0: sink.ErrRetryable})
		return
	}

	srv := mongotest.StartServer(t, "")
	client := mongotest.Connect(t, srv.URI())
	db := client.Database("down")
	s := openSinkOn(t, srv.URI(), db, Config{Timeout: 2 * time.Second})
	writeAll(t, s, []*sink.Record{newRecord(0, `{}`)}, 1)

	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	records := []*sink.Record{newRecord(1, `{}`), newRecord(2, `{}`)}
	wantFailures(t, failures(t, s.Write(testContext(t), records)), map[int]sink.Class{0: sink.ErrRetryable, 1: sink.ErrRetryable})
	if err := s.Health(testContext(t)); err == nil {
		t.Error("Health with the server down = nil")
	}

	if err := srv.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	writeAll(t, s, records, 2)
	if n := count(t, db.Collection("events"), nil); n != 3 {
		t.Errorf("collection holds %d documents, want 3", n)
	}
}

// TestCancelledWriteIsRetryable cancels the context before Write.
func TestCancelledWriteIsRetryable(t *testing.T) {
	s, db := openSink(t, Config{})
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	err := s.Write(ctx, []*sink.Record{newRecord(0, `{}`)})
	wantFailures(t, failures(t, err), map[int]sink.Class{0: sink.ErrRetryable})
	if !errors.Is(err, ErrNotAttempted) {
		t.Errorf("Write = %v, want ErrNotAttempted", err)
	}
	if n := count(t, db.Collection("events"), nil); n != 0 {
		t.Errorf("collection holds %d documents, want 0", n)
	}
}
