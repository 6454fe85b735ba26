package source

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// item is a record on its way through the pipeline. It is the record's
// stage.Settler: the pipeline settles it once, with an ack when the broker
// acknowledged the record and with a nack or dead letter when it was not
// published, and the item reports that to the run's ledger.
type item struct {
	tracker stage.Tracker
	rec     Record
	topic   string // rec.Topic, or the default topic
	seq     uint64 // position in the ledger
	run     *run

	// lastErr is the last failure to publish the record, kept so that the
	// Run's error wraps the cause rather than the pipeline's reason text.
	lastErr atomic.Pointer[error]
}

// newMsg makes the pipeline message of rec, entering it in the ledger.
func (rn *run) newMsg(rec Record) stage.Msg[*item] {
	it := &item{rec: rec, topic: rec.Topic, run: rn}
	if it.topic == "" {
		it.topic = rn.opts.Topic
	}
	it.seq = rn.ledger.add(rec.Position)
	return stage.Attach(it, &it.tracker, len(rec.Payload), it)
}

func (it *item) setErr(err error) { it.lastErr.Store(&err) }

// failure returns why the record was not published.
func (it *item) failure(reason string) error {
	if p := it.lastErr.Load(); p != nil {
		return *p
	}
	return errors.New(reason)
}

// Ack is called by the pipeline once the broker acknowledged the record.
func (it *item) Ack() {
	it.run.rt.published.Add(1)
	it.run.ledger.ack(it.seq)
}

// Nack is called by the pipeline when the record was not published: its
// retries ran out, or the pipeline stopped before it was sent.
func (it *item) Nack(_ time.Duration, reason string) {
	it.run.ledger.fail(it.seq, it.failure(reason))
}

// DeadLetter is called by the pipeline when the record cannot be
// published at all. A source has no dead-letter topic: the record holds
// the checkpoint back like any other failure.
func (it *item) DeadLetter(reason string) {
	it.run.ledger.fail(it.seq, it.failure(reason))
}
