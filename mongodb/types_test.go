package mongodb

import (
	"math"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// TestEveryBSONTypeRoundTrips writes a document of each Extended JSON type,
// twice, and finds it stored as the Go driver reads the source. A second
// write of the same record is acknowledged as already written, which also
// shows that the server stores the document byte for byte as sent.
//
// FerretDB 1.24 rejects nested arrays with code 2 (invalid data), closes
// the connection on NaN, MinKey, MaxKey, DBPointer,
// Symbol, JavaScript code (with or without scope), Decimal128 and
// Undefined, which the sink can only report as retryable, and rejects
// infinite doubles with code 2, which is invalid data. MongoDB stores them
// all.
func TestEveryBSONTypeRoundTrips(t *testing.T) {
	const (
		stored    = "stored"
		retryable = "retryable"
		invalid   = "invalid"
	)
	tests := []struct {
		name    string
		payload string
		ferret  string
	}{
		{"doubles", `{"d":0.25,"small":5e-324,"big":1.7976931348623157e308,"x":{"$numberDouble":"1.5"}}`, stored},
		{"integers", `{"i":{"$numberInt":"-2147483648"},"l":{"$numberLong":"9223372036854775807"},"plain":42,"long":12345678901}`, stored},
		{"strings", `{"s":"caf\u00e9 😀","nul":"a\u0000b","empty":""}`, stored},
		{"containers", `{"arr":[1,"2",{"3":[3]}],"doc":{"a":{"b":{}}},"empty":[]}`, stored},
		{"nested arrays", `{"matrix":[[1,2],[3,4]]}`, invalid},
		{"object id, booleans, null", `{"oid":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"t":true,"f":false,"n":null}`, stored},
		{"dates", `{"old":{"$date":{"$numberLong":"-62135596800000"}},"iso":{"$date":"2020-02-29T12:00:00.123Z"},"late":{"$date":{"$numberLong":"253402300799999"}}}`, stored},
		{"binary", `{"b":{"$binary":{"base64":"AQID","subType":"80"}},"u":{"$uuid":"73ffd264-44b3-4c69-90e8-e7d1dfc035d4"},"old":{"$binary":{"base64":"AQID","subType":"02"}}}`, stored},
		{"regular expression", `{"re":{"$regularExpression":{"pattern":"^a.b$","options":"xi"}}}`, stored},
		{"timestamp", `{"ts":{"$timestamp":{"t":1700000000,"i":7}}}`, stored},
		{"infinity", `{"inf":{"$numberDouble":"-Infinity"}}`, invalid},
		{"NaN", `{"nan":{"$numberDouble":"NaN"}}`, retryable},
		{"min and max keys", `{"min":{"$minKey":1},"max":{"$maxKey":1}}`, retryable},
		{"DBPointer", `{"ptr":{"$dbPointer":{"$ref":"db.coll","$id":{"$oid":"5ca4bbc7a2dd94ee5816238c"}}}}`, retryable},
		{"symbol", `{"sym":{"$symbol":"s"}}`, retryable},
		{"code", `{"code":{"$code":"function(){}"},"cws":{"$code":"x","$scope":{"x":1}}}`, retryable},
		{"decimal", `{"dec":{"$numberDecimal":"1.10"}}`, retryable},
		{"undefined", `{"u":{"$undefined":true}}`, retryable},
	}
	s, db := openSink(t, Config{})
	coll := db.Collection("events")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			record := newRecord(uint64(i), tt.payload)
			err := s.Write(testContext(t), []*sink.Record{record})

			want := stored
			if !mongotest.Real() {
				want = tt.ferret
			}
			switch want {
			case retryable:
				wantFailures(t, failures(t, err), map[int]sink.Class{0: sink.ErrRetryable})
				return
			case invalid:
				wantFailures(t, failures(t, err), map[int]sink.Class{0: sink.ErrInvalidData})
				return
			}
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := s.Write(testContext(t), []*sink.Record{record}); err != nil {
				t.Errorf("second Write of the same record: %v", err)
			}

			source, err := driverConvert([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			got := findByID(t, coll, DeterministicID(record))
			elems, _ := got.Elements()
			if diff := documentDiff("", source, appendDocumentOf(elems[1:]), DefaultMetadataField); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// TestNegativeZeroRewriteIsWritten writes a document with -0.0 twice.
// MongoDB stores -0.0; FerretDB 1.24 stores 0.0. Either way the second write
// is recognised as the same document, because the sink compares doubles by
// value when it reads a duplicate back.
func TestNegativeZeroRewriteIsWritten(t *testing.T) {
	s, db := openSink(t, Config{})
	record := newRecord(0, `{"z":-0.0}`)
	for i := range 2 {
		if err := s.Write(testContext(t), []*sink.Record{record}); err != nil {
			t.Fatalf("Write %d: %v", i+1, err)
		}
	}
	z := findByID(t, db.Collection("events"), DeterministicID(record)).Lookup("z").Double()
	if negative := math.Signbit(z); negative != mongotest.Real() {
		t.Errorf("stored z = %v (sign bit %v), want the sign bit %v on this server", z, negative, mongotest.Real())
	}
}
