package mongodb

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// bsonDiff compares two BSON values recursively, type by type and field by
// field in order, and returns the first difference, or "".
func bsonDiff(path string, want, got bson.RawValue) string {
	if want.Type != got.Type {
		return fmt.Sprintf("%s: type %v, want %v", path, got.Type, want.Type)
	}
	switch want.Type {
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		return documentDiff(path, want.Value, got.Value, "")
	case bson.TypeDouble:
		w, g := want.Double(), got.Double()
		if math.Float64bits(w) != math.Float64bits(g) && !(math.IsNaN(w) && math.IsNaN(g)) {
			return fmt.Sprintf("%s: %v, want %v", path, g, w)
		}
		return ""
	default:
		if !bytes.Equal(want.Value, got.Value) {
			return fmt.Sprintf("%s: %v, want %v", path, got, want)
		}
		return ""
	}
}

// documentDiff compares two documents field by field, in order. A field of
// got named ignore is skipped.
func documentDiff(path string, want, got bson.Raw, ignore string) string {
	wantElems, err := want.Elements()
	if err != nil {
		return fmt.Sprintf("%s: expected document does not parse: %v", path, err)
	}
	gotElems, err := got.Elements()
	if err != nil {
		return fmt.Sprintf("%s: stored document does not parse: %v", path, err)
	}
	if ignore != "" {
		kept := gotElems[:0]
		for _, e := range gotElems {
			if e.Key() != ignore {
				kept = append(kept, e)
			}
		}
		gotElems = kept
	}
	for i, w := range wantElems {
		field := w.Key()
		if path != "" {
			field = path + "." + field
		}
		if i >= len(gotElems) {
			return fmt.Sprintf("%s: missing", field)
		}
		if gotElems[i].Key() != w.Key() {
			return fmt.Sprintf("%s: found field %q in its place", field, gotElems[i].Key())
		}
		if diff := bsonDiff(field, w.Value(), gotElems[i].Value()); diff != "" {
			return diff
		}
	}
	if len(gotElems) > len(wantElems) {
		return fmt.Sprintf("%s: unexpected field %q", path, gotElems[len(wantElems)].Key())
	}
	return ""
}

func TestDocumentDiffFindsTypeChange(t *testing.T) {
	a, _ := bson.Marshal(bson.D{{Key: "x", Value: bson.D{{Key: "n", Value: int32(1)}}}})
	b, _ := bson.Marshal(bson.D{{Key: "x", Value: bson.D{{Key: "n", Value: int64(1)}}}})
	if diff := documentDiff("", a, b, ""); diff == "" {
		t.Error("documentDiff found no difference between int32 and int64")
	}
	if diff := documentDiff("", a, a, ""); diff != "" {
		t.Errorf("documentDiff of a document with itself: %s", diff)
	}
}
