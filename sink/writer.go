package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// writer is a route's stage.Writer: it hands each batch to the connector
// and turns the connector's error classes into what the write stage does
// with each record.
type writer struct {
	r    *route
	recs []*Record // reused for every batch: the write stage calls one Write at a time
}

// Open waits until the connector is open, so that the first batches of a
// route that started before the connector wait rather than fail. It is
// called by the write stage before its first Write of each run.
func (w *writer) Open(ctx context.Context) error {
	return w.r.rt.state.waitOpen(ctx)
}

// Write writes batch through the connector. A record is nacked without
// reaching the connector when the runtime was forced to stop or the
// connector is not open.
func (w *writer) Write(ctx context.Context, batch []stage.Msg[*Record]) (err error) {
	rt := w.r.rt
	if err := context.Cause(rt.forceCtx()); err != nil {
		return stage.Redeliver(0, err) // ErrForced, the nack's reason
	}
	end, err := rt.state.beginWrite()
	if err != nil {
		return stage.Redeliver(0, err)
	}
	defer end()

	w.recs = w.recs[:0]
	for _, m := range batch {
		w.recs = append(w.recs, m.Value)
	}
	defer clear(w.recs)

	// Force cuts the write short: the connector's ctx ends with it.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(rt.forceCtx(), func() { cancel(context.Cause(rt.forceCtx())) })
	defer stop()

	inst := w.r.inst
	wctx, span := inst.StartBatchSpan(wctx, w.r.cfg.Topic, len(w.recs), func(i int) map[string]string {
		return w.recs[i].Attributes
	})
	defer func() {
		if p := recover(); p != nil {
			inst.EndSpan(span, fmt.Errorf("panic: %v", p))
			panic(p) // the write stage recovers it and fails
		}
		inst.EndSpan(span, err)
	}()

	werr := rt.state.conn.Write(wctx, w.recs)
	if werr == nil {
		w.recordLag(ctx)
		return nil
	}
	if context.Cause(rt.forceCtx()) != nil {
		return stage.Redeliver(0, fmt.Errorf("write cut short by a forced stop: %w", werr))
	}
	return w.translate(werr)
}

// recordLag records how long ago the oldest record of the batch was
// published.
func (w *writer) recordLag(ctx context.Context) {
	if len(w.recs) == 0 {
		return
	}
	oldest := w.recs[0].PublishTime
	for _, r := range w.recs[1:] {
		if r.PublishTime.Before(oldest) {
			oldest = r.PublishTime
		}
	}
	if !oldest.IsZero() {
		w.r.inst.RecordLag(ctx, w.r.rt.clk.Since(oldest))
	}
}

// translate turns the connector's error into the write stage's terms: a
// *BatchError into a *stage.BatchError with each failure marked.
func (w *writer) translate(err error) error {
	var be *BatchError
	if errors.As(err, &be) && len(be.Failures) > 0 {
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
//     without a dead-letter topic, stage.Redeliver, so it is nacked.
//   - ErrFatal: the connector is marked failed, which closes and reopens
//     it, and the record is nacked (stage.Redeliver) to come back once
//     the connector is open again.
//   - ErrRetryable, or no class: unmarked, so the write stage retries it
//     with backoff, then nacks it.
func (w *writer) mark(err error) error {
	switch ClassOf(err) {
	case ErrInvalidData:
		if w.r.cfg.DeadLetterTopic == "" {
			return stage.Redeliver(0, fmt.Errorf("invalid data, and no dead-letter topic is configured: %w", err))
		}
		return stage.Permanent(err)
	case ErrFatal:
		w.r.rt.state.fail(err)
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
