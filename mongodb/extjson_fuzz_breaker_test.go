package mongodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// longInteger matches an integer of 19 digits or more, which may lie
// beyond the int64 range, where the converter writes a Decimal128 and the
// driver a double.
var longInteger = regexp.MustCompile(`[0-9]{19,}`)

// FuzzConverterMatchesDriverByteForByte requires the converter's document
// to equal the Go driver's byte for byte, unless the input contains a long
// integer. Inputs with $dbPointer are left out, because the driver also
// reads a legacy $id given as a plain hex string, which the converter
// rejects as invalid data.
func FuzzConverterMatchesDriverByteForByte(f *testing.F) {
	for _, in := range extendedJSONCases {
		f.Add([]byte(in))
	}
	for _, in := range []string{
		`{"d":{"$date":"1500-01-01T00:00:00.5Z"}}`,
		`{"d":{"$date":"9999-12-31T23:59:59.999999999Z"}}`,
		`{"d":{"$date":"2020-01-01T00:00:00.123456+05:45"}}`,
		`{"d":{"$date":-1}}`,
		`{"n":{"$numberInt":"+5"}}`,
		`{"n":{"$numberLong":"-0"}}`,
		`{"n":{"$numberDouble":"1e-400"}}`,
		`{"n":{"$numberDouble":"0x1p-2"}}`,
		`{"n":{"$numberDouble":"inf"}}`,
		`{"n":{"$numberDouble":"1_0"}}`,
		`{"n":{"$numberDecimal":"1_0"}}`,
		`{"n":{"$numberLong":"1_0"}}`,
		`{"n":1e-400}`,
		`{"n":-0.0e0}`,
		`{"n":{"$numberDecimal":"0x10"}}`,
		`{"b":{"$binary":{"base64":"AQ==","subType":"0x1"}}}`,
		`{"b":{"$binary":{"base64":"AQ","subType":"00"}}}`,
		`{"u":{"$uuid":"73ffd264-44b3-4c69-90e8-e7d1dfc035dZ"}}`,
		`{"t":{"$timestamp":{"t":1,"i":-0}}}`,
		`{"r":{"$regularExpression":{"pattern":"a","options":"zyxa"}}}`,
		`{"c":{"$code":"x","$scope":{"$numberInt":"1"}}}`,
		`{"k":{"$minKey":1.0}}`,
	} {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := convertObject(in)
		want, driverErr := driverConvert(in)
		if driverErr != nil || len(want) == 0 || bytes.Contains(in, []byte("$dbPointer")) {
			return
		}
		if err != nil {
			var syntax *syntaxError
			if errors.As(err, &syntax) && (!json.Valid(in) || !utf8.Valid(in)) {
				return
			}
			var docErr *DocumentError
			if errors.As(err, &docErr) && (strings.Contains(docErr.Reason, "Decimal128") || strings.Contains(docErr.Reason, "nested deeper")) {
				return
			}
			t.Fatalf("driver accepts %q, converter: %v", in, err)
		}
		if longInteger.Match(in) {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("convert %q:\n got %s\nwant %s", in, got, want)
		}
	})
}
