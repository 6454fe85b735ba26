package mongodb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// maxRetainedArena is the largest document buffer kept between batches;
// a larger one, left by a batch of big documents, is released.
const maxRetainedArena = 64 << 20

// recordState is how far the write of one record got.
type recordState uint8

const (
	statePending recordState = iota
	stateWritten
	stateFailed
)

// batchWrite is the state of one Write call. The sink keeps them in a pool
// and reuses their buffers from batch to batch.
type batchWrite struct {
	s     *Sink
	conn  *connection
	opts  *options.BulkWriteOptionsBuilder
	build *builder

	batch  []*sink.Record
	docs   []document
	states []recordState
	errs   []error

	groups  []group
	groupOf map[string]int

	arena    []byte
	models   []mongo.WriteModel
	pending  []int
	posError []int
	dups     []int
	probes   []int

	// stopped is the cause that ended the batch early, or nil.
	stopped error
}

// group is the records of a batch that go to one collection, in batch
// order.
type group struct {
	name    string
	ns      string
	coll    *mongo.Collection
	records []int
}

// stop is the part of a batch that a failed bulk request ends.
type stop uint8

const (
	stopNothing stop = iota
	stopGroup        // the rest of the collection's records
	stopAll          // the rest of the batch
)

func (w *batchWrite) reset(s *Sink, conn *connection, batch []*sink.Record) {
	w.s = s
	w.conn = conn
	if w.opts == nil {
		w.opts = options.BulkWrite().SetOrdered(s.cfg.OrderedInserts)
	}
	w.batch = batch
	w.docs = resize(w.docs, len(batch))
	w.states = resize(w.states, len(batch))
	w.errs = resize(w.errs, len(batch))
	clear(w.docs)
	clear(w.states)
	clear(w.errs)
	w.groups = w.groups[:0]
	if w.groupOf == nil {
		w.groupOf = make(map[string]int)
	}
	clear(w.groupOf)
	w.arena = w.arena[:0]
	w.stopped = nil
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// prepare builds every record's document and groups the records by
// collection. A record whose document cannot be built fails here.
func (w *batchWrite) prepare() {
	for i, r := range w.batch {
		d, arena, err := w.build.build(r, w.arena)
		w.arena = arena
		if err != nil {
			w.fail(i, err)
			continue
		}
		w.docs[i] = d
		g := w.group(d.collection)
		g.records = append(g.records, i)
	}
}

// group returns the group of the named collection, adding it when it is
// new.
func (w *batchWrite) group(name string) *group {
	if i, ok := w.groupOf[name]; ok {
		return &w.groups[i]
	}
	n := len(w.groups)
	if n < cap(w.groups) {
		w.groups = w.groups[:n+1]
	} else {
		w.groups = append(w.groups, group{})
	}
	g := &w.groups[n]
	g.name = name
	g.ns = w.s.cfg.Database + "." + name
	g.records = g.records[:0]
	g.coll = w.conn.collection(name)
	w.groupOf[name] = n
	return g
}

// collection returns the handle of the named collection.
func (c *connection) collection(name string) *mongo.Collection {
	c.mu.Lock()
	defer c.mu.Unlock()
	coll, ok := c.collections[name]
	if !ok {
		coll = c.db.Collection(name)
		c.collections[name] = coll
	}
	return coll
}

// write sends every group, in the order of its first record, and stops at
// a failure of the whole request, such as a lost connection.
func (w *batchWrite) write(ctx context.Context) {
	for gi := range w.groups {
		if !w.writeGroup(ctx, &w.groups[gi]) {
			return
		}
	}
}

// writeGroup sends the records of g in bulk requests and reports whether
// the batch may go on. A record that a request leaves pending (after the
// point where an ordered request stopped) is sent again with the next.
func (w *batchWrite) writeGroup(ctx context.Context, g *group) bool {
	pending := append(w.pending[:0], g.records...)
	defer func() { w.pending = pending[:0] }()

	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			w.stopped = err
			return false
		}

		stopped, cause := w.send(ctx, g, w.chunk(pending))
		switch stopped {
		case stopAll:
			w.stopped = cause
			return false
		case stopGroup:
			w.failPending(pending, cause)
			return true
		}

		n := 0
		for _, i := range pending {
			if w.states[i] == statePending {
				pending[n] = i
				n++
			}
		}
		if n == len(pending) {
			// Every request settles at least the record it stopped at;
			// this guards the loop should that ever fail.
			w.failPending(pending, errors.New("a bulk write settled no record"))
			return true
		}
		pending = pending[:n]
	}
	return true
}

// chunk returns the records at the start of pending that one bulk request
// carries: writes of one command, within the server's count and size
// limits, so that the driver sends exactly one command. That way a failed
// request leaves no doubt about which records it held.
func (w *batchWrite) chunk(pending []int) []int {
	command := w.docs[pending[0]].kind.command()
	maxDocs := w.conn.maxDocs
	if w.s.maxChunkDocs > 0 && w.s.maxChunkDocs < maxDocs {
		maxDocs = w.s.maxChunkDocs
	}
	budget := w.conn.maxBytes - messageHeadroom

	size, n := 0, 0
	for n < len(pending) && n < maxDocs {
		d := &w.docs[pending[n]]
		if d.kind.command() != command {
			break
		}
		size += requestSize(d)
		if n > 0 && size > budget {
			break
		}
		n++
	}
	return pending[:n]
}

// send writes the records of chunk in one bulk request, settles them, and
// returns what the outcome stops, with its cause.
func (w *batchWrite) send(ctx context.Context, g *group, chunk []int) (stop, error) {
	w.models = w.models[:0]
	for _, i := range chunk {
		w.models = append(w.models, writeModel(&w.docs[i]))
	}

	opCtx, cancel := context.WithTimeout(ctx, w.s.cfg.Timeout)
	_, err := g.coll.BulkWrite(opCtx, w.models, w.opts)
	cancel()
	clear(w.models)
	if err == nil {
		for _, i := range chunk {
			w.states[i] = stateWritten
		}
		return stopNothing, nil
	}

	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) {
		// The request failed as a whole: none of its records is known to
		// be written.
		//
		// NOTE: a server that closes the connection on a document it cannot
		// read (FerretDB 1.24 on Decimal128, NaN and a few other types)
		// fails the request this way on every retry, until the runtime's
		// retry limit nacks the records.
		err = w.s.scrub.scrub(err)
		failure := mark(commandErrorClass(err), fmt.Errorf("bulk %s of %d to %s: %w", w.docs[chunk[0]].kind.command(), len(chunk), g.ns, err))
		for _, i := range chunk {
			w.fail(i, failure)
		}
		return stopAll, err
	}
	return w.settle(ctx, g, chunk, bulk)
}

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
		case found && sameDocument(existing, d.doc):
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
		case sameDocument(existing, d.doc):
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

// fail records the failure of record i.
func (w *batchWrite) fail(i int, err error) {
	w.states[i] = stateFailed
	w.errs[i] = err
}

// failPending fails the records that were never sent, because cause
// stopped their collection or the batch.
func (w *batchWrite) failPending(records []int, cause error) {
	for _, i := range records {
		if w.states[i] == statePending {
			w.fail(i, sink.Retryable(fmt.Errorf("%w: %v", ErrNotAttempted, cause)))
		}
	}
}

// result returns nil when every record was written, else the batch error.
// A record still pending was never sent, and is retryable.
func (w *batchWrite) result() error {
	var failures []sink.RecordError
	for i, state := range w.states {
		switch state {
		case stateWritten:
			continue
		case statePending:
			cause := w.stopped
			if cause == nil {
				cause = errors.New("no write was sent for it")
			}
			w.fail(i, sink.Retryable(fmt.Errorf("%w: %v", ErrNotAttempted, cause)))
		}
		failures = append(failures, sink.RecordError{Index: i, Err: w.errs[i]})
	}

	// Keep no record or payload past the call.
	w.batch = nil
	clear(w.docs)
	clear(w.errs)
	if cap(w.arena) > maxRetainedArena {
		w.arena = nil
	}

	if len(failures) == 0 {
		return nil
	}
	return &sink.BatchError{Failures: failures}
}

// sameDocument reports whether a stored document is the one the sink would
// write. Servers store documents byte for byte, with one exception seen in
// FerretDB 1.24, which stores -0.0 as 0.0, so a difference in bytes is
// checked again comparing doubles by value.
func sameDocument(stored, doc bson.Raw) bool {
	if bytes.Equal(stored, doc) {
		return true
	}
	return sameElements(stored, doc)
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
		if aElems[i].Key() != bElems[i].Key() {
			return false
		}
		av, bv := aElems[i].Value(), bElems[i].Value()
		if av.Type != bv.Type {
			return false
		}
		switch av.Type {
		case bson.TypeDouble:
			if av.Double() != bv.Double() && !(math.IsNaN(av.Double()) && math.IsNaN(bv.Double())) {
				return false
			}
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			if !sameElements(av.Value, bv.Value) {
				return false
			}
		default:
			if !bytes.Equal(av.Value, bv.Value) {
				return false
			}
		}
	}
	return true
}
