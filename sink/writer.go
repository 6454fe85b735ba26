package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// WriterOptions configures a Writer. The zero value is ready to use:
// invalid records are nacked, and nothing is measured.
type WriterOptions struct {
	// DeadLetter makes the records that the connector rejects with
	// ErrInvalidData dead-lettered, which the pipeline's Source turns into
	// a publish to its dead-letter topic. Set it when the Source has one.
	// False nacks them instead, so that the broker's redelivery and poison
	// policy decide.
	DeadLetter bool

	// Instrumentation, when set, traces each Write in a span linked to the
	// trace context of every record's attributes, and records how long
	// ago the oldest record of each batch written was published.
	Instrumentation *otel.Instrumentation
}

// Writer is the stage.Writer of a Connector: it hands each batch of
// records to the connector's Write and turns the connector's error
// classes into what the write stage does with each record.
//
//   - nil: every record is acked.
//   - A *BatchError: the records it does not name are acked, and each
//     failure is handled by its class, as below.
//   - ErrRetryable, or no class: the write stage retries the records
//     under its stage.RetryPolicy, then nacks them.
//   - ErrInvalidData: the records are dead-lettered, or nacked; see
//     WriterOptions.DeadLetter.
//   - ErrFatal: the write stage fails with stage.Fatal. Its supervisor
//     restarts it, the Writer closes the connector and opens it again in
//     Open, and the restarted stage writes the batch again.
//
// A record that a stage before the write stage replaced by nil never
// reaches the connector and is dead-lettered, or nacked like invalid
// data.
//
// Make one with NewWriter and give it to stage.Write; it implements
// stage.Opener, so the write stage opens the connector before its first
// write. Call Close once the pipeline's Run has returned. A Writer serves
// one write stage.
type Writer struct {
	opts  WriterOptions
	state *connState
	clk   clock.Clock

	// owned is set by NewWriter: the Writer opens and closes the
	// connector itself. The runtime's writers share the connector that
	// the runtime opens, closes and reopens after a fatal error.
	owned bool
	// forced returns why the runtime was forced to stop, or nil; nil
	// itself outside a runtime.
	forced func() error

	// Reused for every batch: the write stage calls one Write at a time.
	recs  []*Record
	index []int // the position in the batch of each of recs, when a stage produced nil records
	nils  []int // the positions of those nil records
	attrs func(i int) map[string]string
}

// NewWriter returns a Writer over conn. It panics if conn is nil.
func NewWriter(conn Connector, opts WriterOptions) *Writer {
	if conn == nil {
		panic("sink: NewWriter given a nil Connector")
	}
	w := &Writer{opts: opts, state: newConnState(conn), clk: clock.Real(), owned: true}
	w.init()
	return w
}

func (w *Writer) init() {
	w.attrs = func(i int) map[string]string { return w.recs[i].Attributes }
}

// Open opens the connector when it is not open: at the first run of the
// write stage, and at each restart after a fatal error, when it closes
// the failed connector first. In a runtime it waits instead until the
// runtime has opened the connector. The write stage calls it before its
// first Write of every run. An error fails the stage, and its supervisor
// calls Open again after a backoff delay.
func (w *Writer) Open(ctx context.Context) error {
	if !w.owned {
		return w.state.waitOpen(ctx)
	}
	switch w.state.current() {
	case statusOpen:
		return nil
	case statusFailed:
		cctx, cancel := context.WithTimeout(ctx, closeTimeout)
		err := w.state.close(cctx)
		cancel()
		if err != nil {
			return err
		}
	}
	return w.state.open(ctx)
}

// Close closes the connector if the Writer opened it, after any Write in
// progress has returned, within ctx. In a runtime it does nothing: the
// runtime closes its connector.
func (w *Writer) Close(ctx context.Context) error {
	if !w.owned {
		return nil
	}
	switch w.state.current() {
	case statusOpen, statusFailed:
		return w.state.close(ctx)
	}
	return nil
}

// Write writes batch through the connector. The records of a runtime that
// was forced to stop are nacked without reaching the connector, and so
// are those of a connector that is not open.
func (w *Writer) Write(ctx context.Context, batch []stage.Msg[*Record]) (err error) {
	if w.forced != nil {
		if err := w.forced(); err != nil {
			return stage.Redeliver(0, err) // ErrForced, the nack's reason
		}
	}
	if err := w.state.beginWrite(); err != nil {
		if w.owned && errors.Is(err, ErrFatal) {
			return stage.Fatal(err) // the restart reopens the connector
		}
		return stage.Redeliver(0, err)
	}
	defer w.state.endWrite()

	w.collect(batch)
	defer w.reset()
	if len(w.recs) == 0 {
		return w.combine(nil)
	}

	inst := w.opts.Instrumentation
	wctx, span := inst.StartBatchSpan(ctx, w.recs[0].Topic, len(w.recs), w.attrs)
	defer func() {
		if p := recover(); p != nil {
			inst.EndSpan(span, fmt.Errorf("panic: %v", p))
			panic(p) // the write stage recovers it and fails
		}
		inst.EndSpan(span, err)
	}()

	werr := w.state.conn.Write(wctx, w.recs)
	if werr == nil {
		w.recordLag(ctx)
		return w.combine(nil)
	}
	if w.forced != nil && w.forced() != nil {
		werr = stage.Redeliver(0, fmt.Errorf("write cut short by a forced stop: %w", werr))
		return w.combine(werr)
	}
	return w.combine(w.translate(werr))
}

// collect gathers the records of batch into w.recs, leaving out nil ones,
// whose positions go to w.nils.
func (w *Writer) collect(batch []stage.Msg[*Record]) {
	for i, m := range batch {
		if m.Value == nil {
			if len(w.nils) == 0 {
				// The first nil: index the records before it.
				for j := range i {
					w.index = append(w.index, j)
				}
			}
			w.nils = append(w.nils, i)
			continue
		}
		w.recs = append(w.recs, m.Value)
		if len(w.nils) > 0 {
			w.index = append(w.index, i)
		}
	}
}

func (w *Writer) reset() {
	clear(w.recs)
	w.recs, w.index, w.nils = w.recs[:0], w.index[:0], w.nils[:0]
}

// errNilRecord is the failure of a record that a stage replaced by nil.
var errNilRecord = errors.New("a stage before the write stage replaced the record by nil")

// combine returns err, the outcome of writing w.recs, in terms of the
// whole batch. With nil records it is a *stage.BatchError that fails them
// and maps each failure of err from its index in w.recs to its position
// in the batch, or, when err is no *stage.BatchError, fails every record
// of w.recs with err. Either way no record is acked that the connector did
// not report written, and the nil records are dead-lettered.
func (w *Writer) combine(err error) error {
	if len(w.nils) == 0 {
		return err
	}
	out := &stage.BatchError{}
	for _, i := range w.nils {
		out.Failed = append(out.Failed, stage.Failure{Index: i, Err: w.mark(InvalidData(errNilRecord))})
	}
	if err == nil {
		return out
	}

	var be *stage.BatchError
	if errors.As(err, &be) && validIndexes(be, len(w.recs)) {
		for _, f := range be.Failed {
			out.Failed = append(out.Failed, stage.Failure{Index: w.index[f.Index], Err: f.Err})
		}
		return out
	}
	for _, i := range w.index {
		out.Failed = append(out.Failed, stage.Failure{Index: i, Err: err})
	}
	return out
}

// validIndexes reports whether every failure of be names a distinct
// record of a batch of n. translate only returns such a
// *stage.BatchError, so this is a guard against a future caller.
func validIndexes(be *stage.BatchError, n int) bool {
	seen := make([]bool, n)
	for _, f := range be.Failed {
		if f.Index < 0 || f.Index >= n || seen[f.Index] {
			return false
		}
		seen[f.Index] = true
	}
	return true
}

// recordLag records how long ago the oldest record of the batch was
// published.
func (w *Writer) recordLag(ctx context.Context) {
	inst := w.opts.Instrumentation
	if inst == nil {
		return
	}
	oldest := w.recs[0].PublishTime
	for _, r := range w.recs[1:] {
		if r.PublishTime.Before(oldest) {
			oldest = r.PublishTime
		}
	}
	if !oldest.IsZero() {
		inst.RecordLag(ctx, w.clk.Since(oldest))
	}
}

// translate turns the connector's error into the write stage's terms: a
// *BatchError into a *stage.BatchError with each failure marked, its
// indexes still those of w.recs.
//
// A *BatchError that lists an index out of range or an index twice does
// not say which records were written, so BatchError's contract makes the
// whole batch fail, to be retried. Its failures' classes are kept out of
// the chain (as text only): the mark of a record that the report cannot
// place must not decide the whole batch's fate. A *BatchError that lists
// no failure is an error like any other, retried unless marked.
//
// The connector may report several *BatchError joined, one per
// collection for instance: their failures are taken together. A
// *BatchError joined with an error of another kind does not say what
// that error means for the batch, so the whole batch is retried too.
func (w *Writer) translate(err error) error {
	be, problem := collectBatchErrors(err)
	if problem != "" {
		return fmt.Errorf("the connector reported a BatchError joined with %s, so the whole batch is retried: %v", problem, err)
	}
	if be != nil && len(be.Failures) > 0 {
		if problem := be.problem(len(w.recs)); problem != "" {
			return fmt.Errorf("the connector reported an invalid BatchError (%s), so the whole batch is retried: %v", problem, err)
		}
		out := &stage.BatchError{Failed: make([]stage.Failure, len(be.Failures))}
		for i, f := range be.Failures {
			ferr := f.Err
			if ferr == nil {
				ferr = fmt.Errorf("record %d of the batch failed without an error", f.Index)
			}
			out.Failed[i] = stage.Failure{Index: f.Index, Err: w.mark(ferr)}
		}
		return out
	}
	return w.mark(err)
}

// mark returns err marked for the write stage by its class. The sink
// error stays in the chain, so that ClassOf and errors.Is still find it.
//
//   - ErrInvalidData: stage.Permanent, so the record is dead-lettered;
//     without WriterOptions.DeadLetter, stage.Redeliver, so it is nacked.
//   - ErrFatal: the connector is marked failed. In a runtime, that closes
//     and reopens it, and the record is nacked (stage.Redeliver) to come
//     back once the connector is open again. Elsewhere it is stage.Fatal,
//     and the restarted write stage writes it again.
//   - ErrRetryable, or no class: unmarked, so the write stage retries it
//     with backoff, then nacks it.
func (w *Writer) mark(err error) error {
	switch ClassOf(err) {
	case ErrInvalidData:
		if !w.opts.DeadLetter {
			return stage.Redeliver(0, fmt.Errorf("invalid data, and no dead-letter topic is configured: %w", err))
		}
		return stage.Permanent(err)
	case ErrFatal:
		w.state.fail(err)
		if w.owned {
			return stage.Fatal(err)
		}
		return stage.Redeliver(0, err)
	}
	return err
}

// classifyForMetrics returns the metric class of an error that a write
// stage reports, by the sink's classes it wraps.
func classifyForMetrics(err error) otel.ErrorClass {
	switch ClassOf(err) {
	case ErrFatal:
		return otel.ClassFatal
	case ErrInvalidData:
		return otel.ClassInvalidData
	}
	return otel.ClassRetryable
}

// collectBatchErrors returns the failures of every *BatchError in err's
// tree as one *BatchError, nil when there is none. problem is not empty
// when err joins a *BatchError with an error of another kind, which
// leaves unsaid what that error means for the records.
func collectBatchErrors(err error) (all *BatchError, problem string) {
	var found []*BatchError
	other := false
	var walk func(error)
	walk = func(e error) {
		if be, ok := e.(*BatchError); ok {
			if be == nil {
				other = true // a nil *BatchError names no record
				return
			}
			found = append(found, be)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				if c != nil {
					walk(c)
				}
			}
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				walk(c)
				return
			}
			other = true
		default:
			other = true
		}
	}
	walk(err)
	switch {
	case len(found) == 0:
		return nil, ""
	case other: // only a join can hold a BatchError and another error
		return nil, "an error of another kind"
	case len(found) == 1:
		return found[0], ""
	}
	for _, be := range found {
		if len(be.Failures) == 0 {
			// An empty BatchError fails the whole batch: merged with the
			// others it would vanish, and its records would be acked.
			return nil, "an empty BatchError, which fails the whole batch"
		}
	}
	all = &BatchError{}
	for _, be := range found {
		all.Failures = append(all.Failures, be.Failures...)
	}
	return all, ""
}
