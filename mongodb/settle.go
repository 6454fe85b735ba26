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

	// readErr is the failure of the read-back of duplicates, which leaves
	// part of them unsettled.
	var readErr error
	if len(w.dups) > 0 {
		// An ordered request that stopped at a duplicate is most likely a
		// redelivery of records written before: check the inserts after it
		// in the same read, so that they are not sent again one by one.
		probeFrom := len(chunk)
		if ordered && reach < len(chunk) && w.posError[reach] >= 0 && w.states[chunk[reach]] == statePending {
			probeFrom = reach + 1
		}
		readErr = w.verifyDuplicates(ctx, g, chunk, bulk, probeFrom)
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
	if ordered && concernErr == nil && readErr == nil && (w.states[at] == stateWritten || sink.ClassOf(w.errs[at]) == sink.ErrInvalidData) {
		// The server stopped at a record that needs no retry: the records
		// after it stay pending and go in the next request.
		return stopNothing, nil
	}

	// The cause is the failure of the record the server stopped at, else
	// the write concern's, else the read-back's, which left records after
	// it unsettled.
	cause := w.errs[at]
	if cause == nil {
		cause = concernErr
	}
	if cause == nil {
		cause = readErr
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

// maxReadBackIDs is the largest number of _ids that one read-back query
// of verifyDuplicates selects. A query that times out then leaves the
// records of the queries before it settled, so a retry makes progress
// where one query for every id would time out again.
//
// NOTE: FerretDB 1.24 on SQLite scans the whole collection for an
// {_id: {$in: [...]}} filter. On the embedded server (2-core machine), a
// query for 500 ids took 0.8 s with 10,000 documents and 2.8 s with
// 40,000, and one for 100 ids 1.9 s with 40,000. So there the 500
// duplicates of a redelivered batch take 9.3 s to read back in queries of
// 100, against 2.8 s in one, and a collection that one query cannot scan
// within Config.Timeout still makes no progress.
const maxReadBackIDs = 100

// verifyDuplicates settles the inserts at the positions in w.dups, which
// failed with a duplicate key, by reading the documents with their _ids
// back: an insert whose document is stored exactly as it would write it
// was written before, by an earlier delivery of the same message. The
// same read-back covers the pending inserts from position probeFrom on.
// Those that are stored are settled the same way, and the others stay
// pending.
//
// The ids are read in queries of at most maxReadBackIDs, in order, and
// each query settles its records. When a query fails, the read-back stops:
// the duplicates it did not read fail as retryable, its probes stay
// pending, and the returned error, marked retryable, is the failure.
func (w *batchWrite) verifyDuplicates(ctx context.Context, g *group, chunk []int, bulk mongo.BulkWriteException, probeFrom int) error {
	reads := append(w.reads[:0], w.dups...)
	for p := probeFrom; p < len(chunk); p++ {
		if i := chunk[p]; w.docs[i].kind == kindInsert && w.states[i] == statePending && w.posError[p] < 0 {
			reads = append(reads, p)
		}
	}
	w.reads = reads

	size := maxReadBackIDs
	if w.s.readBackIDs > 0 && w.s.readBackIDs < size {
		size = w.s.readBackIDs
	}
	for query, start := 0, 0; start < len(reads); query, start = query+1, start+size {
		part := reads[start:min(start+size, len(reads))]
		stored, err := w.readBack(ctx, g, chunk, part, query)
		if err != nil {
			err = w.s.scrub.scrub(err)
			for _, p := range reads[start:] {
				if w.posError[p] >= 0 {
					w.fail(chunk[p], sink.Retryable(fmt.Errorf("insert into %s hit a duplicate key, and reading the stored document back failed: %w", g.ns, err)))
				}
			}
			return sink.Retryable(fmt.Errorf("reading back the documents of %d inserts into %s after a duplicate key failed: %w", len(reads)-start, g.ns, err))
		}
		for _, p := range part {
			w.settleStored(g, chunk[p], bulk, w.posError[p], stored)
		}
	}
	return nil
}

// readBack returns the stored documents with the _ids of the records at
// the positions part of chunk, by _id, in one query.
func (w *batchWrite) readBack(ctx context.Context, g *group, chunk, part []int, query int) (map[string]bson.Raw, error) {
	if w.s.readBackFault != nil {
		if err := w.s.readBackFault(query); err != nil {
			return nil, err
		}
	}

	// {"_id": {"$in": [id, ...]}}
	filter := make([]byte, 0, 64+len(part)*32)
	filter = append(filter, 0, 0, 0, 0)
	filter = appendKey(filter, typeDocument, "_id")
	inStart := len(filter)
	filter = append(filter, 0, 0, 0, 0)
	filter = appendKey(filter, typeArray, "$in")
	arrayStart := len(filter)
	filter = append(filter, 0, 0, 0, 0)
	for n, p := range part {
		id := w.docs[chunk[p]].id
		filter = append(filter, byte(id.Type))
		filter = strconv.AppendInt(filter, int64(n), 10)
		filter = append(filter, 0)
		filter = append(filter, id.Value...)
	}
	filter = closeDocument(filter, arrayStart)
	filter = closeDocument(filter, inStart)
	filter = closeDocument(filter, 0)

	return w.findByID(ctx, g, bson.Raw(filter))
}

// settleStored settles insert i by the stored document with its _id, if
// any. errorIndex is the index of its write error in bulk, or -1 for a
// probe, an insert that the server did not reach, which stays pending when
// no document with its _id is stored.
func (w *batchWrite) settleStored(g *group, i int, bulk mongo.BulkWriteException, errorIndex int, stored map[string]bson.Raw) {
	d := &w.docs[i]
	existing, found := stored[idKey(d.id)]
	switch {
	case found && sameDocument(existing, d.doc, w.s.perDelivery):
		w.states[i] = stateWritten
	case errorIndex < 0 && found:
		w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: a different document with _id %s exists; the insert write model keeps the first, use replace to overwrite", g.ns, d.id)))
	case errorIndex < 0:
	case found:
		we := bulk.WriteErrors[errorIndex].WriteError
		w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: a different document with _id %s exists; the insert write model keeps the first, use replace to overwrite: %w", g.ns, d.id, we)))
	default:
		we := bulk.WriteErrors[errorIndex].WriteError
		w.fail(i, sink.InvalidData(fmt.Errorf("insert into %s: duplicate key on a unique index other than _id: %w", g.ns, we)))
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
