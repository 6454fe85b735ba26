package mongodb

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// nestedThroughWrappers is a payload that nests arrays inside Extended JSON
// wrappers given a value of the wrong type: 99 arrays in each of cycles
// $oid wrappers, with no closing brackets, so that only a nesting bound
// that holds inside wrappers stops the converter.
func nestedThroughWrappers(cycles int) []byte {
	unit := `{"$oid":` + strings.Repeat("[", 99)
	return []byte(`{"a":` + strings.Repeat(unit, cycles) + `1`)
}

// TestDeepNestingInsideWrappersIsInvalidData nests 150 levels through each
// path by which the converter reads a value inside a wrapper, and expects
// the nesting error, not a conversion of the inner levels.
func TestDeepNestingInsideWrappersIsInvalidData(t *testing.T) {
	const levels = 150
	nest := func(open, inner, closing string) string {
		return `{"a":` + strings.Repeat(open, levels) + inner + strings.Repeat(closing, levels) + `}`
	}
	tests := map[string]string{
		"wrong-type wrapper value":   nest(`{"$numberInt":`, `1`, `}`),
		"code with scope":            nest(`{"$code":"","$scope":{"a":`, `1`, `}}`),
		"dbPointer id":               nest(`{"$dbPointer":{"$ref":"c","$id":`, `{"$oid":"5ca4bbc7a2dd94ee5816238c"}`, `}}`),
		"binary base64 value":        nest(`{"$binary":{"base64":`, `1`, `}}`),
		"binary subType value":       nest(`{"$binary":{"base64":"","subType":`, `1`, `}}`),
		"timestamp member":           nest(`{"$timestamp":{"t":`, `1`, `}}`),
		"regular expression pattern": nest(`{"$regularExpression":{"pattern":`, `1`, `}}`),
		"date numberLong":            nest(`{"$date":{"$numberLong":`, `1`, `}}`),
		"date value":                 nest(`{"$date":[`, `1`, `]}`),
		"oid in arrays":              nest(`{"$oid":[`, `1`, `]}`),
		"minKey value":               nest(`{"$minKey":`, `1`, `}`),
	}
	for name, in := range tests {
		_, err := convertObject([]byte(in))
		var docErr *DocumentError
		if !errors.As(err, &docErr) || !strings.Contains(docErr.Reason, "nested deeper") {
			t.Errorf("%s, %d levels: err = %v, want a nesting DocumentError", name, levels, err)
		}
	}
}

// TestWrappersAtMaximumNestingAreConverted pins where the bound lies for
// wrappers: a wrapper counts as one level, so the deepest level holds a
// wrapper whose inner object, which belongs to the wrapper's level, is
// accepted. A code scope is one level below its wrapper.
func TestWrappersAtMaximumNestingAreConverted(t *testing.T) {
	deep := func(inner string, levels int) string {
		return `{"deep":` + strings.Repeat(`[`, levels-1) + inner + strings.Repeat(`]`, levels-1) + `}`
	}
	for _, inner := range []string{
		`{"$oid":"5ca4bbc7a2dd94ee5816238c"}`,
		`{"$binary":{"base64":"AQ==","subType":"00"}}`,
		`{"$timestamp":{"t":1,"i":2}}`,
		`{"$date":{"$numberLong":"5"}}`,
	} {
		if _, err := convertObject([]byte(deep(inner, maxNesting))); err != nil {
			t.Errorf("%s at level %d: %v", inner, maxNesting, err)
		}
		_, err := convertObject([]byte(deep(inner, maxNesting+1)))
		var docErr *DocumentError
		if !errors.As(err, &docErr) || !strings.Contains(docErr.Reason, "nested deeper") {
			t.Errorf("%s at level %d: err = %v, want a nesting DocumentError", inner, maxNesting+1, err)
		}
	}

	scope := `{"$code":"x","$scope":{"v":1}}`
	if _, err := convertObject([]byte(deep(scope, maxNesting-1))); err != nil {
		t.Errorf("code with scope at level %d: %v", maxNesting-1, err)
	}
	if _, err := convertObject([]byte(deep(scope, maxNesting))); err == nil {
		t.Errorf("code with scope at level %d: converted, want a nesting error for its scope", maxNesting)
	}
}

// TestDeepNestingPayloadIsInvalidDataNotACrash builds the document of a
// 2.6 MB payload, below the 4 MB that a gRPC message to or from the broker
// may carry, in a child process, and expects invalid data. Unbounded
// recursion would end the child with "fatal error: stack overflow", which
// no recover catches, so the sink would crash on every delivery.
func TestDeepNestingPayloadIsInvalidDataNotACrash(t *testing.T) {
	const cycles = 24000 // 24000 * 107 bytes = 2.57 MB
	if os.Getenv("MONGODB_NESTING_CHILD") == "1" {
		cfg := Config{ConnectionString: "mongodb://127.0.0.1:1/", Database: "d", Collection: "c"}.withDefaults()
		b := newBuilder(cfg)
		r := &sink.Record{Topic: "/default/t", Payload: nestedThroughWrappers(cycles)}
		_, _, err := b.build(r, nil)
		if !errors.Is(err, sink.ErrInvalidData) {
			t.Fatalf("build: err = %v, want invalid data", err)
		}
		return
	}
	if len(nestedThroughWrappers(cycles)) >= 4<<20 {
		t.Fatal("payload is not below the 4 MB gRPC message limit")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeepNestingPayloadIsInvalidDataNotACrash$", "-test.v")
	cmd.Env = append(os.Environ(), "MONGODB_NESTING_CHILD=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(string(out), "\n")
		if len(lines) > 4 {
			lines = lines[:4]
		}
		t.Fatalf("child building the document of a %d-byte payload failed after %v: %v\n%s",
			len(nestedThroughWrappers(cycles)), time.Since(start).Round(time.Millisecond), err, strings.Join(lines, "\n"))
	}
}
