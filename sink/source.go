package sink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/stage"
)

// SourceOptions configures a Source. The zero value is ready to use: no
// dead-letter topic, the default logger, no metrics.
type SourceOptions struct {
	// DeadLetter is the producer of the dead-letter topic, which must be
	// reliable. A record that a stage dead-letters is published to it with
	// the attributes AttrOriginalTopic and the others, and acked once the
	// broker stored it, or nacked when the publish failed. Nil nacks such
	// records, so that the broker's redelivery and poison policy decide.
	// The Source does not close the producer.
	DeadLetter *danube.Producer

	// Connector names the connector in the AttrConnector attribute of
	// dead letters.
	Connector string

	// Logger receives the first failure of an acknowledgement and of a
	// dead-letter publish as it happens, and their counts at Close, never
	// one line per record. It also receives a warning with the count and
	// the first reason of the records dead-lettered or nacked, each time
	// the Source has sent every settlement queued, so about once per
	// batch. Nil means slog.Default().
	Logger *slog.Logger

	// Instrumentation, when set, counts the records received and those
	// delivered again (otel's RecordReceive), once per Receive.
	Instrumentation *otel.Instrumentation
}

// Source is a stage.Source of the records of one danube consumer: the
// entry of a pipeline that consumes a Danube subscription, such as each
// route of a Runtime, or a pipeline built by hand with user stages and a
// Writer. Every record it hands over carries the settlement of its
// message: an ack or a nack goes to the broker through the consumer's
// asynchronous calls, and a dead letter to SourceOptions.DeadLetter,
// followed by an ack. A settlement is queued for a goroutine of the
// Source's own, so the stage that settles never waits for the broker.
//
// Make one with NewSource, give it to stage.From, and call Close once the
// pipeline's Run has returned, then close the consumer. A Source serves
// one pipeline run.
type Source struct {
	cons  *danube.Consumer
	opts  SourceOptions
	log   *slog.Logger
	label string // topic@subscription, for logs

	settler *settler
	msgs    []*danube.Message // the receive buffer; the entry stage calls Receive from one goroutine
	admits  []admission       // held.admit's decisions on msgs
	closed  atomic.Bool

	// held is the set of reliable messages admitted and not yet settled.
	// duplicates counts the redeliveries that Receive dropped because
	// held contained them: the Source's own counter, or its route's,
	// which spans the route's runs.
	held       heldSet
	duplicates *atomic.Int64

	// sends is the parent context of dead-letter publishes, cancelled
	// when Close gives up waiting for them.
	sends       context.Context
	cancelSends context.CancelCauseFunc

	mu  sync.Mutex
	err error // the cause of the consumer's failure, nil while it works
}

// NewSource returns a Source that receives from cons. It starts the
// goroutine that sends settlements to the broker; Close stops it. It
// panics if cons is nil.
func NewSource(cons *danube.Consumer, opts SourceOptions) *Source {
	return newSource(cons, opts, context.Background(), true, nil)
}

// newSource is NewSource with the parent context of dead-letter
// publishes: the runtime's, which Force cancels. warnWhenIdle makes the
// settling goroutine warn of failures whenever it has sent what was
// queued. A route sets it false, because it warns once per batch itself.
// duplicates, when not nil, is the counter of the redeliveries dropped.
func newSource(cons *danube.Consumer, opts SourceOptions, sends context.Context, warnWhenIdle bool, duplicates *atomic.Int64) *Source {
	if cons == nil {
		panic("sink: NewSource given a nil consumer")
	}
	s := &Source{
		cons:       cons,
		opts:       opts,
		log:        opts.Logger,
		label:      routeLabel(cons.Topic(), cons.Subscription()),
		duplicates: duplicates,
	}
	if s.duplicates == nil {
		s.duplicates = new(atomic.Int64)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.sends, s.cancelSends = context.WithCancelCause(sends)
	s.settler = newSettler(s)
	s.settler.warnWhenIdle = warnWhenIdle
	go s.settler.run()
	return s
}

// routeLabel returns topic@subscription, the name of a route or a source
// in logs and errors.
func routeLabel(topic, subscription string) string {
	return topic + "@" + subscription
}

// Receive waits for the first message of the consumer, then fills buf
// with the messages already received, as stage.Source requires. Each
// record's size is its payload's length.
//
// A redelivery of a message still in the pipeline is dropped here, and
// counted by Duplicates. The broker sends a reliable message again when
// its ack timeout passes or the consumer's stream reconnects, and the
// settlement of the delivery in the pipeline settles the message at the
// broker. A redelivery is recognized by its partition and offset, and
// only on a reliable topic, at an offset above 0. Receive waits for more
// messages when it dropped every one it received.
//
// It returns io.EOF after Close, and when the consumer failed: a
// partition it gave up on, or a consumer closed under it. The pipeline
// then drains, and Err returns the failure. When ctx is done it returns
// ctx's cause.
func (s *Source) Receive(ctx context.Context, buf []stage.Msg[*Record]) (int, error) {
	if len(buf) == 0 {
		// ReceiveBatch returns at once for an empty buffer, so the loop
		// below would never wait.
		if s.closed.Load() {
			return 0, io.EOF
		}
		return 0, nil
	}
	if cap(s.msgs) < len(buf) {
		s.msgs = make([]*danube.Message, len(buf))
		s.admits = make([]admission, len(buf))
	}
	msgs, admits := s.msgs[:len(buf)], s.admits[:len(buf)]

	for {
		if s.closed.Load() {
			return 0, io.EOF
		}
		n, err := s.cons.ReceiveBatch(ctx, msgs)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		default:
			s.fail(fmt.Errorf("receive: %w", err))
			return 0, io.EOF
		}

		dropped := s.held.admit(msgs[:n], admits[:n])
		kept, redelivered := 0, 0
		for i, msg := range msgs[:n] {
			if msg.DeliveryAttempt > 1 {
				redelivered++
			}
			if admits[i] == droppedHeld {
				continue
			}
			d := newDelivery(s, msg)
			d.held = admits[i] == admittedHeld
			buf[kept] = stage.Attach(&d.rec, &d.tracker, len(msg.Payload), stage.Settler(d))
			kept++
		}
		clear(msgs[:n])
		s.opts.Instrumentation.RecordReceive(ctx, n, redelivered)
		if dropped > 0 {
			s.duplicates.Add(int64(dropped))
			s.opts.Instrumentation.RecordDuplicates(ctx, dropped)
		}
		if kept > 0 {
			return kept, nil
		}
	}
}

// Duplicates returns how many redeliveries Receive dropped since
// NewSource because the message was still in the pipeline.
func (s *Source) Duplicates() int64 {
	return s.duplicates.Load()
}

// Err returns why the consumer failed, making Receive return io.EOF, or
// nil while it works and after a failure-free run.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Source) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// leftOver is the nack reason of the messages the consumer received after
// the pipeline stopped taking any.
const leftOver = "the pipeline stopped before the message entered it"

// Close ends the Source once the pipeline's Run has returned. It nacks the
// messages the consumer received that never entered the pipeline, then
// waits until every settlement has reached the broker: acks, nacks, and
// dead letters with the ack that follows each. It leaves the consumer
// open; close it after Close returns, so that no acknowledgement is cut
// off.
//
// When ctx ends first, Close cancels the dead-letter publishes still
// running, whose records are then nacked, and returns an error wrapping
// ctx's cause without waiting further. A settlement that comes after
// Close, from a stage left running in user code, is not sent: the broker
// delivers its message again. Close may be called more than once; the
// calls after the first return nil.
func (s *Source) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.nackBuffered()

	st := s.settler
	st.close()
	select {
	case <-st.done:
	case <-ctx.Done():
		s.cancelSends(context.Cause(ctx))
		return fmt.Errorf("source %s: settlements still on their way to the broker: %w", s.label, context.Cause(ctx))
	}
	s.cancelSends(nil)

	s.warnFailures()
	if n := st.ackFailed.Load(); n > 0 {
		s.log.Warn("acknowledgements failed; the broker delivers those messages again",
			"source", s.label, "failed", n)
	}
	if n := st.dlqFailed.Load(); n > 0 {
		s.log.Error("dead-letter publishes failed; those messages were nacked",
			"source", s.label, "failed", n)
	}
	if n := st.late.Load(); n > 0 {
		s.log.Warn("settlements came after the source closed, from a stage stuck in user code; the broker delivers those messages again",
			"source", s.label, "messages", n)
	}
	return nil
}

// warnFailures logs one warning for the records dead-lettered and one for
// those nacked since the last call, each with the count and the first
// reason, and nothing when there were none. A reason is the text of the
// connector's or a Transform stage's error, which also travels in the
// AttrFailureReason of a dead letter. Keeping secrets out of it is the
// connector's part: the MongoDB connector scrubs the connection string's
// credentials from its errors.
func (s *Source) warnFailures() {
	f := s.settler.takeFailures()
	if f.deadLettered > 0 {
		s.log.Warn("records dead-lettered",
			"route", s.label, "dead_letter_topic", s.opts.DeadLetter.Topic(),
			"records", f.deadLettered, "first_reason", f.firstDeadLetter)
	}
	if f.nacked > 0 {
		s.log.Warn("records nacked; the broker delivers them again",
			"route", s.label, "records", f.nacked, "first_reason", f.firstNack)
	}
}

// nackBuffered nacks the messages the consumer has buffered, in one pass:
// nacked messages may come back at once. A message that arrives later,
// while the consumer closes, is delivered again by the broker when the
// consumer's stream ends.
func (s *Source) nackBuffered() {
	done, cancel := context.WithCancel(context.Background())
	cancel() // receive only what is buffered
	buf := make([]*danube.Message, nackBatch)
	for {
		n, err := s.cons.ReceiveBatch(done, buf)
		for _, msg := range buf[:n] {
			s.settler.push(settlement{d: newDelivery(s, msg), kind: settleNack, reason: leftOver, routine: true})
		}
		clear(buf[:n])
		if n < len(buf) || err != nil {
			return
		}
	}
}

// nackBatch is how many buffered messages nackBuffered takes from the
// consumer at a time.
const nackBatch = 128
