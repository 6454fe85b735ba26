package mongodb

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// settle maps the write errors of a bulk request back to its records.
//
// The server works through a request in order. An ordered request stops
// at its first write error: the records before it were written and those
// after it were not reached. When the record it stopped at needs no retry
// (it was invalid, or already written), the records after it stay pending
// and are sent again. Otherwise they fail as retryable, and so does the
// rest of the collection's records, so that nothing overtakes a record
// that will be retried. An unordered request goes on past an error in a
// document, but may stop at a failure of the server itself (a stepdown, a
// shutdown), so records after a retryable or fatal write error are
// treated as not reached.
func (w *batchWrite) settle(ctx context.Context, g *group, chunk []int, bulk mongo.BulkWriteException) (stop, error) {
	ordered := w.s.cfg.OrderedInserts

	w.posError = resize(w.posError, len(chunk))
	for p := range w.posError {
		w.posError[p] = -1
	}
	for k, we := range bulk.WriteErrors {
		if we.Index >= 0 && we.Index < len(chunk) && w.posError[we.Index] < 0 {
			w.posError[we.Index] = k
		}
	}

	var concernErr error
	if wce := bulk.WriteConcernError; wce != nil {
		concernErr = mark(writeConcernClass(wce.Code), fmt.Errorf("bulk write to %s applied, but its write concern failed (code %d): %w", g.ns, wce.Code, wce))
	}

	// reach is the first position that stopped, or may have stopped, the
	// server. The records after it without an error of their own were not
	// written.
	reach := len(chunk)
	w.dups = w.dups[:0]
	for p, i := range chunk {
		k := w.posError[p]
		if k < 0 {
			continue
		}
		we := bulk.WriteErrors[k].WriteError
		kind := w.docs[i].kind
		if kind == kindInsert && isDuplicateKey(we.Code) {
			w.dups = append(w.dups, p)
			if ordered && p < reach {
				reach = p
			}
			continue
		}
		class := writeErrorClass(kind, we.Code)
		w.fail(i, mark(class, fmt.Errorf("%s into %s: server error %d: %w", kind.command(), g.ns, we.Code, we)))
		if (ordered || class != sink.ErrInvalidData) && p < reach {
			reach = p
		}
	}

	if len(w.dups) > 0 {
		// An ordered request that stopped at a duplicate is most likely a
		// redelivery of records written before: check the inserts after it
		// in the same read, so that they are not sent again one by one.
		probeFrom := len(chunk)
		if ordered && reach < len(chunk) && w.posError[reach] >= 0 && w.states[chunk[reach]] == statePending {
			probeFrom = reach + 1
		}
		w.verifyDuplicates(ctx, g, chunk, bulk, probeFrom)
	}

	for p, i := range chunk {
		if p >= reach || w.posError[p] >= 0 {
			continue
		}
		if concernErr != nil {
			w.fail(i, concernErr)
		} else {
			w.states[i] = stateWritten
		}
	}

	if reach == len(chunk) {
		switch {
		case concernErr == nil:
			return stopNothing, nil
		case sink.ClassOf(concernErr) == sink.ErrFatal:
			return stopAll, concernErr
		case ordered:
			return stopGroup, concernErr
		}
		return stopNothing, nil
	}

	at := chunk[reach]
	if ordered && concernErr == nil && (w.states[at] == stateWritten || sink.ClassOf(w.errs[at]) == sink.ErrInvalidData) {
		// The server stopped at a record that needs no retry: the records
		// after it stay pending and go in the next request.
		return stopNothing, nil
	}

	cause := w.errs[at]
	if cause == nil {
		cause = concernErr
	}
	for p := reach + 1; p < len(chunk); p++ {
		if i := chunk[p]; w.states[i] == statePending {
			w.fail(i, sink.Retryable(fmt.Errorf("%w: the server stopped at an earlier document: %v", ErrNotAttempted, cause)))
		}
	}
	switch {
	case sink.ClassOf(cause) == sink.ErrFatal:
		return stopAll, cause
	case ordered:
		return stopGroup, cause
	default:
		return stopNothing, nil
	}
}

// verifyDuplicates settles the inserts at the positions in w.dups, which
// failed with a duplicate key, by reading the documents with their _ids
// back: an insert whose document is stored exactly as it would write it
// was written before, by an earlier delivery of the same message. The
// same query reads the pending inserts from position probeFrom on. Those
// that are stored are settled the same way, and the others stay pending.
func (w *batchWrite) verifyDuplicates(ctx context.Context, g *group, chunk []int, bulk mongo.BulkWriteException, probeFrom int) {
	probes := w.probes[:0]
	for p := probeFrom; p < len(chunk); p++ {
		if i := chunk[p]; w.docs[i].kind == kindInsert && w.states[i] == statePending && w.posError[p] < 0 {
			probes = append(probes, p)
		}
	}
	w.probes = probes

	// {"_id": {"$in": [id, ...]}}
	filter := make([]byte, 0, 64+(len(w.dups)+len(probes))*32)
	filter = append(filter, 0, 0, 0, 0)
	filter = appendKey(filter, typeDocument, "_id")
	inStart := len(filter)
	filter = append(filter, 0, 0, 0, 0)
	filter = appendKey(filter, typeArray, "$in")
	arrayStart := len(filter)
	filter = append(filter, 0, 0, 0, 0)
	n := 0
	for _, positions := range [][]int{w.dups, probes} {
		for _, p := range positions {
			id := w.docs[chunk[p]].id
			filter = append(filter, byte(id.Type))
			filter = strconv.AppendInt(filter, int64(n), 10)
			filter = append(filter, 0)
			filter = append(filter, id.Value...)
			n++
		}
	}
	filter = closeDocument(filter, arrayStart)
	filter = closeDocument(filter, inStart)
	filter = closeDocument(filter, 0)

	stored, err := w.findByID(ctx, g, bson.Raw(filter))

	for _, p := range w.dups {
		i := chunk[p]
		we := bulk.WriteErrors[w.posError[p]].WriteError
		d := &w.docs[i]
		existing, found := stored[idKey(d.id)]
		switch {
		case err != nil:
			w.fail(i, sink.Retryable(fmt.Errorf("insert into %s hit a duplicate key, and reading the stored document back failed: %w", g.ns, w.s.scrub.scrub(err))))
		case found && sameDocument(existing, d.doc, w.s.perDelivery):
			w.states[i] = stateWritten
		case found:
			w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: a different document with _id %s exists; the insert write model keeps the first, use replace to overwrite: %w", g.ns, d.id, we)))
		default:
			w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: duplicate key on a unique index other than _id: %w", g.ns, we)))
		}
	}
	if err != nil {
		return
	}
	for _, p := range probes {
		i := chunk[p]
		d := &w.docs[i]
		existing, found := stored[idKey(d.id)]
		switch {
		case !found:
		case sameDocument(existing, d.doc, w.s.perDelivery):
			w.states[i] = stateWritten
		default:
			w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: a different document with _id %s exists; the insert write model keeps the first, use replace to overwrite", g.ns, d.id)))
		}
	}
}

// findByID returns the documents that filter selects, by _id.
func (w *batchWrite) findByID(ctx context.Context, g *group, filter bson.Raw) (map[string]bson.Raw, error) {
	ctx, cancel := context.WithTimeout(ctx, w.s.cfg.Timeout)
	defer cancel()
	cursor, err := g.coll.Find(ctx, filter)
	if err != nil {
		return nil, err
	}
	defer cursor.Close(context.WithoutCancel(ctx))

	stored := make(map[string]bson.Raw)
	for cursor.Next(ctx) {
		doc := bytes.Clone(cursor.Current)
		stored[idKey(bson.Raw(doc).Lookup("_id"))] = doc
	}
	return stored, cursor.Err()
}

// idKey returns a map key for an _id: its type and bytes.
func idKey(id bson.RawValue) string {
	key := make([]byte, 0, 1+len(id.Value))
	key = append(key, byte(id.Type))
	return string(append(key, id.Value...))
}

// sameDocument reports whether a stored document is the one the sink would
// write, apart from the top-level fields named in perDelivery. Those hold
// the message's metadata, which differs when the same payload is published
// again, so a republished document counts as the one already stored.
// Servers store documents byte for byte, with one exception seen in
// FerretDB 1.24, which stores -0.0 as 0.0, so a difference in bytes is
// checked again comparing doubles by value.
func sameDocument(stored, doc bson.Raw, perDelivery []string) bool {
	if bytes.Equal(stored, doc) {
		return true
	}
	if len(perDelivery) == 0 {
		return sameElements(stored, doc)
	}

	aElems, err := stored.Elements()
	if err != nil {
		return false
	}
	bElems, err := doc.Elements()
	if err != nil {
		return false
	}
	aElems, bElems = withoutKeys(aElems, perDelivery), withoutKeys(bElems, perDelivery)
	if len(aElems) != len(bElems) {
		return false
	}
	for i := range aElems {
		if aElems[i].Key() != bElems[i].Key() || !sameValue(aElems[i].Value(), bElems[i].Value()) {
			return false
		}
	}
	return true
}

// withoutKeys returns elems without the elements named in keys, reusing
// elems' backing array.
func withoutKeys(elems []bson.RawElement, keys []string) []bson.RawElement {
	kept := elems[:0]
	for _, e := range elems {
		if !slices.Contains(keys, e.Key()) {
			kept = append(kept, e)
		}
	}
	return kept
}

func sameElements(a, b bson.Raw) bool {
	aElems, err := a.Elements()
	if err != nil {
		return false
	}
	bElems, err := b.Elements()
	if err != nil || len(aElems) != len(bElems) {
		return false
	}
	for i := range aElems {
		if aElems[i].Key() != bElems[i].Key() || !sameValue(aElems[i].Value(), bElems[i].Value()) {
			return false
		}
	}
	return true
}

// sameValue compares two values as sameElements does.
func sameValue(av, bv bson.RawValue) bool {
	if av.Type != bv.Type {
		return false
	}
	switch av.Type {
	case bson.TypeDouble:
		return av.Double() == bv.Double() || (math.IsNaN(av.Double()) && math.IsNaN(bv.Double()))
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		return sameElements(av.Value, bv.Value)
	default:
		return bytes.Equal(av.Value, bv.Value)
	}
}
