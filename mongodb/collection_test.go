package mongodb

import (
	"errors"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestCollectionNameRules(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"orders", true},
		{"orders.2024", true},
		{"orders.", true},
		{"a.system.b", true},
		{"systems", true},
		{"Ωmega", true},
		{"", false},
		{".orders", false},
		{".", false},
		{"ord$ers", false},
		{"$cmd", false},
		{"ord\x00ers", false},
		{"system.users", false},
		{"system.", false},
		{"bad\xffutf8", false},
		{strings.Repeat("n", maxNamespace-len("db.")), true},
		{strings.Repeat("n", maxNamespace-len("db.")+1), false},
	}
	for _, tt := range tests {
		problem := checkCollectionName("db", tt.name)
		if valid := problem == ""; valid != tt.valid {
			t.Errorf("checkCollectionName(%.40q): problem %q, want valid %v", tt.name, problem, tt.valid)
		}
	}
}

// TestInvalidCollectionNameFailsOnlyItsRecord routes one
// record, by the collection field, to a collection name that MongoDB
// rejects (a name may not start with '.'), ahead of a valid record for the
// default collection. The record with the bad name is invalid data on
// every attempt, and the valid record is written on the first.
func TestInvalidCollectionNameFailsOnlyItsRecord(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered, Collection: "fallback", CollectionField: "kind"})
		batch := []*sink.Record{
			newRecord(0, `{"kind":".orders","n":0}`),
			newRecord(1, `{"n":1}`),
		}
		for attempt := 1; attempt <= 3; attempt++ {
			got := failures(t, s.Write(testContext(t), batch))
			if err := got[0]; !errors.Is(err, sink.ErrInvalidData) {
				t.Errorf("attempt %d: record routed to \".orders\" failed with %v (class %v), want invalid data", attempt, err, sink.ClassOf(err))
			}
			if err, failed := got[1]; failed {
				t.Errorf("attempt %d: the valid record was not written: %v", attempt, err)
			}
			if len(got) == 0 || got[1] == nil {
				break
			}
			batch = []*sink.Record{batch[0], batch[1]} // the runtime retries the failed records
		}
		if n := count(t, db.Collection("fallback"), bson.D{}); n != 1 {
			t.Errorf("collection fallback holds %d documents, want 1", n)
		}
	})
}

// ferretDBRejectedName passes MongoDB's collection name rules, but
// FerretDB 1.24 rejects it: it reserves the _ferretdb_ prefix.
const ferretDBRejectedName = "_ferretdb_orders"

// TestRejectedNamespaceFailsOnlyItsCollection routes records to a name
// that passes the sink's own check but that the server rejects with
// InvalidNamespace. Those records are invalid data, all of them, and the
// records of the other collections are written, whichever comes first.
func TestRejectedNamespaceFailsOnlyItsCollection(t *testing.T) {
	if mongotest.Real() {
		t.Skip("MongoDB accepts every name that passes its rules; the name used here is rejected by FerretDB only")
	}
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered, Collection: "fallback", CollectionField: "kind"})
		batch := []*sink.Record{
			newRecord(0, `{"kind":"`+ferretDBRejectedName+`","n":0}`),
			newRecord(1, `{"n":1}`),
			newRecord(2, `{"kind":"`+ferretDBRejectedName+`","n":2}`),
			newRecord(3, `{"kind":"other","n":3}`),
		}
		got := failures(t, s.Write(testContext(t), batch))
		wantFailures(t, got, map[int]sink.Class{0: sink.ErrInvalidData, 2: sink.ErrInvalidData})
		var server mongo.ServerError
		if !errors.As(got[0], &server) || !server.HasErrorCode(73) {
			t.Errorf("record 0 failed with %v, want the server's InvalidNamespace (73)", got[0])
		}
		if n := count(t, db.Collection("fallback"), nil); n != 1 {
			t.Errorf("collection fallback holds %d documents, want 1", n)
		}
		if n := count(t, db.Collection("other"), nil); n != 1 {
			t.Errorf("collection other holds %d documents, want 1", n)
		}
	})
}

// TestRejectedConfiguredNamespaceIsFatal writes to a configured collection
// that the server rejects: the configuration is at fault, so the write is
// fatal rather than invalid data for every record of the route.
func TestRejectedConfiguredNamespaceIsFatal(t *testing.T) {
	if mongotest.Real() {
		t.Skip("MongoDB accepts every name that passes its rules; the name used here is rejected by FerretDB only")
	}
	s, _ := openSink(t, Config{Collection: ferretDBRejectedName})
	got := failures(t, s.Write(testContext(t), []*sink.Record{newRecord(0, `{"n":0}`), newRecord(1, `{"n":1}`)}))
	wantFailures(t, got, map[int]sink.Class{0: sink.ErrFatal, 1: sink.ErrFatal})
}

func TestRejectsNamespaceByCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"InvalidNamespace", mongo.CommandError{Code: 73, Name: "InvalidNamespace"}, true},
		{"wrapped", errors.Join(errors.New("bulk write"), mongo.CommandError{Code: 73}), true},
		{"other code", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"not a server error", errors.New("invalid namespace"), false},
	}
	for _, tt := range tests {
		if got := rejectsNamespace(tt.err); got != tt.want {
			t.Errorf("%s: rejectsNamespace = %v, want %v", tt.name, got, tt.want)
		}
	}
}
