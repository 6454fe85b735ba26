package mongodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-messaging/danube-connect-go/sink"
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
	reads    []int

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
	stopNothing  stop = iota
	stopGroup         // the rest of the collection's records
	stopRejected      // the rest of the collection's records, which fail with the cause
	stopAll           // the rest of the batch
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
		case stopRejected:
			for _, i := range pending {
				if w.states[i] == statePending {
					w.fail(i, cause)
				}
			}
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
		//
		// The error is classified before it is scrubbed, because a
		// scrubbed error no longer wraps the driver's.
		class, rejected := commandErrorClass(err), rejectsNamespace(err)
		err = w.s.scrub.scrub(err)
		if rejected {
			return w.rejectNamespace(g, chunk, err)
		}
		failure := mark(class, fmt.Errorf("bulk %s of %d to %s: %w", w.docs[chunk[0]].kind.command(), len(chunk), g.ns, err))
		for _, i := range chunk {
			w.fail(i, failure)
		}
		return stopAll, err
	}
	return w.settle(ctx, g, chunk, bulk)
}

// rejectNamespace fails the records of chunk, whose request the server
// failed because it rejects the namespace g.ns, and returns what that
// stops. No write to the collection can succeed, so the records of a
// collection named by a payload are invalid data, and a configured
// collection stops the connector.
func (w *batchWrite) rejectNamespace(g *group, chunk []int, err error) (stop, error) {
	if w.s.configured[g.name] {
		failure := sink.Fatal(fmt.Errorf("the server rejects the namespace %s of a configured collection: check the database and collection settings: %w", g.ns, err))
		for _, i := range chunk {
			w.fail(i, failure)
		}
		return stopAll, failure
	}
	// NOTE: the server reports a database name it rejects with the same
	// code. Config.Validate applies MongoDB's database name rules, but a
	// server with stricter ones (FerretDB allows only letters, digits, '_'
	// and '-') makes the records of payload-named collections invalid
	// data until a record of a configured collection stops the connector.
	failure := sink.InvalidData(fmt.Errorf("the server rejects the namespace %s, so no write to it can succeed: %w", g.ns, err))
	for _, i := range chunk {
		w.fail(i, failure)
	}
	return stopRejected, failure
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
