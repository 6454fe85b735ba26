package mongodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func convertObject(in []byte) (bson.Raw, error) {
	var c jsonConverter
	c.reset(in, nil)
	err := c.convertObject()
	return bson.Raw(c.out), err
}

func driverConvert(in []byte) (bson.Raw, error) {
	var raw bson.Raw
	err := bson.UnmarshalExtJSON(in, false, &raw)
	return raw, err
}

// extendedJSONCases are inputs on which the converter must produce the same
// BSON as the Go driver's Extended JSON reader.
var extendedJSONCases = []string{
	`{}`,
	`{"a":1,"b":-2147483648,"c":2147483648,"d":-9223372036854775808,"e":9223372036854775807}`,
	`{"f":1.0,"g":1e3,"h":-0.0,"i":-0,"j":0.1,"k":1.7976931348623157e308,"l":5e-324,"m":1E+2}`,
	`{"s":"plain","u":"caf\u00e9 \ud83d\ude00 \n\t\"\\\/ \b\f\r","lone":"\ud800x","low":"\udc00","raw":"é漢😀"}`,
	`{"t":true,"f":false,"n":null,"arr":[1,"two",[3],{"four":4},[]],"doc":{"nested":{"deep":[{}]}}}`,
	`{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"n":{"$numberInt":"-7"},"l":{"$numberLong":"-9000000000"}}`,
	`{"d1":{"$date":{"$numberLong":"-62135596800000"}},"d2":{"$date":"2020-01-01T00:00:00Z"},"d3":{"$date":"2020-01-01T01:02:03.456+01:00"},"d4":{"$date":1577836800000},"d5":{"$date":"2020-01-01T00:00:00.5+0130"}}`,
	`{"x":{"$numberDouble":"Infinity"},"y":{"$numberDouble":"-Infinity"},"z":{"$numberDouble":"-0.0"},"w":{"$numberDouble":"1.5E+300"}}`,
	`{"dec":{"$numberDecimal":"1.50"},"dinf":{"$numberDecimal":"-Infinity"},"dnan":{"$numberDecimal":"NaN"},"dexp":{"$numberDecimal":"1E-6176"}}`,
	`{"b0":{"$binary":{"base64":"AQID","subType":"00"}},"b1":{"$binary":{"subType":"80","base64":""}},"b2":{"$binary":{"base64":"AQID","subType":"02"}},"b4":{"$binary":{"base64":"c//SZESzTGmQ6OfR38A11A==","subType":"4"}}}`,
	`{"legacy":{"$binary":"AQID","$type":"05"},"uuid":{"$uuid":"73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}}`,
	`{"code":{"$code":"function(){}"},"cws":{"$code":"x","$scope":{"x":{"$numberInt":"1"},"y":[]}}}`,
	`{"ts":{"$timestamp":{"t":4294967295,"i":1}},"ts2":{"$timestamp":{"i":2,"t":0}}}`,
	`{"re":{"$regularExpression":{"pattern":"^a.*b$","options":"mi"}},"re2":{"$regularExpression":{"options":"","pattern":""}}}`,
	`{"ptr":{"$dbPointer":{"$ref":"db.coll","$id":{"$oid":"5ca4bbc7a2dd94ee5816238c"}}},"sym":{"$symbol":"s"}}`,
	`{"min":{"$minKey":1},"max":{"$maxKey":1},"undef":{"$undefined":true}}`,
	`{"ref":{"$ref":"coll","$id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"$db":"db"},"other":{"$foo":1},"regex":{"$regex":"a","$options":"i"},"type":{"$type":"string"}}`,
	`{"$oid":"5ca4bbc7a2dd94ee5816238c"}`,
	` { "spaced" : [ 1 , 2 ] , "x" : { } } `,
	`{"a":1,"a":2}`,
	`{"":{"":""}}`,
	`{"nul":"a\u0000b"}`,
}

func TestConverterMatchesDriver(t *testing.T) {
	for _, in := range extendedJSONCases {
		want, err := driverConvert([]byte(in))
		if err != nil {
			t.Fatalf("driver rejects %s: %v", in, err)
		}
		got, err := convertObject([]byte(in))
		if err != nil {
			t.Errorf("convert %s: %v", in, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("convert %s:\n got %s\nwant %s", in, got, want)
		}
	}
}

func TestConverterMatchesDriverOnSampleData(t *testing.T) {
	files := append(testdata.ExtendedJSONFiles(t), "citm_catalog.json")
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			var lines [][]byte
			if strings.HasSuffix(name, ".ejson") {
				lines = testdata.Lines(t, name)
			} else {
				lines = [][]byte{testdata.File(t, name)}
			}
			for i, line := range lines {
				want, err := driverConvert(line)
				if err != nil {
					t.Fatalf("line %d: driver: %v", i+1, err)
				}
				got, err := convertObject(line)
				if err != nil {
					t.Fatalf("line %d: convert: %v", i+1, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("line %d differs:\n got %.300s\nwant %.300s", i+1, got, want)
				}
			}
		})
	}
}

func TestConverterKeepsIntegerPrecision(t *testing.T) {
	tests := []struct {
		in       string
		wantType bson.Type
		want     string
	}{
		{`{"v":2147483647}`, bson.TypeInt32, "2147483647"},
		{`{"v":-2147483649}`, bson.TypeInt64, "-2147483649"},
		{`{"v":9007199254740993}`, bson.TypeInt64, "9007199254740993"},
		{`{"v":9223372036854775807}`, bson.TypeInt64, "9223372036854775807"},
		{`{"v":9223372036854775808}`, bson.TypeDecimal128, "9223372036854775808"},
		{`{"v":-9223372036854775809}`, bson.TypeDecimal128, "-9223372036854775809"},
		{`{"v":18446744073709551616}`, bson.TypeDecimal128, "18446744073709551616"},
		{`{"v":1234567890123456789012345678901234}`, bson.TypeDecimal128, "1234567890123456789012345678901234"},
		{`{"v":1.0}`, bson.TypeDouble, "1"},
		{`{"v":1e2}`, bson.TypeDouble, "100"},
	}
	for _, tt := range tests {
		doc, err := convertObject([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		v := doc.Lookup("v")
		if v.Type != tt.wantType {
			t.Errorf("%s: type %v, want %v", tt.in, v.Type, tt.wantType)
			continue
		}
		var got string
		switch v.Type {
		case bson.TypeInt32:
			got = strconv.FormatInt(int64(v.Int32()), 10)
		case bson.TypeInt64:
			got = strconv.FormatInt(v.Int64(), 10)
		case bson.TypeDecimal128:
			got = v.Decimal128().String()
		case bson.TypeDouble:
			got = strconv.FormatFloat(v.Double(), 'g', -1, 64)
		}
		if got != tt.want {
			t.Errorf("%s: value %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestConverterRejectsSyntaxErrors(t *testing.T) {
	tests := []string{
		``,
		`   `,
		`{`,
		`{"a":1} trailing`,
		`{"a":1}{"b":2}`,
		`{"a":01}`,
		`{"a":1.}`,
		`{"a":.5}`,
		`{"a":+1}`,
		`{"a":tru}`,
		`{a:1}`,
		`{"a":1,}`,
		`{"a":[1,]}`,
		`{"a":"unterminated}`,
		"{\"a\":\"tab\tinside\"}",
		"{\"a\":\"\xff\"}",
		`{"a":"\x"}`,
		`{"a":"\u12"}`,
		`[1,2]`,
		`"text"`,
		`not json at all`,
	}
	for _, in := range tests {
		_, err := convertObject([]byte(in))
		var syntax *syntaxError
		if !errors.As(err, &syntax) {
			t.Errorf("convert %q: err = %v, want a syntax error", in, err)
		}
	}
}

func TestConverterNamesInvalidField(t *testing.T) {
	tests := []struct {
		in        string
		wantField string
	}{
		{`{"a":{"b\u0000c":1}}`, "a.b\x00c"},
		{`{"a":[0,{"$oid":"xyz"}]}`, "a.1"},
		{`{"when":{"$date":"yesterday"}}`, "when"},
		{`{"n":{"$numberInt":"2147483648"}}`, "n"},
		{`{"n":{"$numberLong":"1.5"}}`, "n"},
		{`{"n":{"$numberDecimal":"abc"}}`, "n"},
		{`{"b":{"$binary":{"base64":"!!","subType":"00"}}}`, "b"},
		{`{"b":{"$binary":{"base64":"AA=="}}}`, "b"},
		{`{"u":{"$uuid":"not-a-uuid"}}`, "u"},
		{`{"x":{"$oid":"5ca4bbc7a2dd94ee5816238c","extra":1}}`, "x"},
		{`{"x":{"$scope":{},"$code":""}}`, "x"},
		{`{"x":{"$minKey":2}}`, "x"},
		{`{"x":{"$timestamp":{"t":-1,"i":0}}}`, "x"},
		{`{"x":{"$regularExpression":{"pattern":"a\u0000","options":""}}}`, "x"},
		{`{"x":1e400}`, "x"},
		{`{"x":12345678901234567890123456789012345}`, "x"},
		{`{"deep":` + strings.Repeat(`[`, maxNesting+1) + strings.Repeat(`]`, maxNesting+1) + `}`, "deep" + strings.Repeat(".0", maxNesting)},
	}
	for _, tt := range tests {
		_, err := convertObject([]byte(tt.in))
		var docErr *DocumentError
		if !errors.As(err, &docErr) {
			t.Errorf("convert %.60s: err = %v, want a DocumentError", tt.in, err)
			continue
		}
		if docErr.Field != tt.wantField {
			t.Errorf("convert %.60s: field %q, want %q (%v)", tt.in, docErr.Field, tt.wantField, err)
		}
	}
}

func TestConverterAcceptsMaximumNesting(t *testing.T) {
	in := `{"deep":` + strings.Repeat(`[`, maxNesting) + strings.Repeat(`]`, maxNesting) + `}`
	if _, err := convertObject([]byte(in)); err != nil {
		t.Fatalf("convert %d nested levels: %v", maxNesting, err)
	}
}

// FuzzConverterMatchesDriver checks the converter against the Go driver's
// Extended JSON reader on inputs both accept, and that it accepts what the
// driver accepts, except where it differs on purpose: it rejects input that
// is not valid JSON, integers beyond the Decimal128 range and nesting
// deeper than MongoDB stores.
func FuzzConverterMatchesDriver(f *testing.F) {
	for _, in := range extendedJSONCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := convertObject(in)
		want, driverErr := driverConvert(in)
		if driverErr != nil || len(want) == 0 {
			// The driver reads "null" as an empty result.
			return
		}
		if err != nil {
			var syntax *syntaxError
			if errors.As(err, &syntax) && (!json.Valid(in) || !utf8.Valid(in)) {
				// The driver reads some invalid JSON, such as a bad \u
				// escape, a control character, data after the value or
				// invalid UTF-8.
				return
			}
			var docErr *DocumentError
			if errors.As(err, &docErr) && (strings.Contains(docErr.Reason, "Decimal128") || strings.Contains(docErr.Reason, "nested deeper")) {
				return
			}
			t.Fatalf("driver accepts %q, converter: %v", in, err)
		}
		if !bytes.Equal(got, want) && !bytes.Contains(got, []byte{typeDecimal128}) {
			t.Fatalf("convert %q:\n got %s\nwant %s", in, got, want)
		}
	})
}

func BenchmarkConvertAccounts(b *testing.B) {
	lines := testdata.Lines(b, "accounts.ejson")
	var c jsonConverter
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.reset(lines[i%len(lines)], out[:0])
		if err := c.convertObject(); err != nil {
			b.Fatal(err)
		}
		out = c.out
	}
}

func BenchmarkConvertCustomers(b *testing.B) {
	lines := testdata.Lines(b, "customers.ejson")
	var c jsonConverter
	var out []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.reset(lines[i%len(lines)], out[:0])
		if err := c.convertObject(); err != nil {
			b.Fatal(err)
		}
		out = c.out
	}
}

// BenchmarkDriverConvertAccounts converts the same documents as
// BenchmarkConvertAccounts with the Go driver's Extended JSON reader.
func BenchmarkDriverConvertAccounts(b *testing.B) {
	lines := testdata.Lines(b, "accounts.ejson")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := driverConvert(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}
