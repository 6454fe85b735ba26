package source

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// Runtime runs a source connector: it takes the connector's records, by
// polling or from its stream, publishes them to Danube and commits the
// connector's checkpoint once the broker has acknowledged every record up
// to it.
//
// A Runtime is a supervisor.Child: each Run opens the connector at the
// last committed checkpoint, runs until the input is exhausted, a failure
// stops it, or its context ends, and then drains, commits and closes the
// connector. Run it under a supervisor to have it run again after a
// failure. The next Run resumes from the last commit, so records published
// after it are published again: at least once, never a gap.
type Runtime struct {
	client   *danube.Client
	conn     Connector
	poller   Poller
	streamer Streamer
	opts     Options
	log      *slog.Logger
	producer string // producer name

	running atomic.Bool

	// openMu is held for reading by Health while it calls the connector,
	// and for writing while the connector closes, so that the two never
	// overlap.
	openMu sync.RWMutex
	open   bool // the connector is open

	mu        sync.Mutex
	resumed   bool       // LastCheckpoint was read, or there is no Resumer
	committed Checkpoint // the checkpoint of the last successful Commit
	commits   uint64
	current   *run // the Run in progress, nil between Runs

	published      atomic.Uint64
	failed         atomic.Uint64
	commitFailures atomic.Uint64
}

// New returns a Runtime that runs conn, a Poller or a Streamer, and
// publishes its records with client, which the caller owns and closes
// after the last Run. It fails, naming every problem, when client or conn
// is nil, when conn implements neither Poller nor Streamer or both, or
// when an option is invalid. New contacts nothing; Run does.
func New(client *danube.Client, conn Connector, opts Options) (*Runtime, error) {
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("nil danube client"))
	}
	var poller Poller
	var streamer Streamer
	if conn == nil {
		errs = append(errs, errors.New("nil connector"))
	} else {
		poller, _ = conn.(Poller)
		streamer, _ = conn.(Streamer)
		switch {
		case poller == nil && streamer == nil:
			errs = append(errs, fmt.Errorf("connector %T implements neither Poll nor Stream", conn))
		case poller != nil && streamer != nil:
			errs = append(errs, fmt.Errorf("connector %T implements both Poll and Stream; implement one, which sets the mode", conn))
		}
	}
	o, err := opts.withDefaults()
	if err != nil {
		errs = append(errs, err)
	}
	if strings.Contains(o.ConnectorName, "/") {
		errs = append(errs, fmt.Errorf("ConnectorName %q contains '/'", o.ConnectorName))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("source: invalid runtime: %w", errors.Join(errs...))
	}

	rt := &Runtime{
		client:   client,
		conn:     conn,
		poller:   poller,
		streamer: streamer,
		opts:     o,
		producer: o.ConnectorName + "-" + randomSuffix(),
	}
	rt.log = o.Logger.With(slog.String("connector", o.ConnectorName))
	_, isResumer := conn.(Resumer)
	rt.resumed = !isResumer
	return rt, nil
}

// randomSuffix returns 8 random hex digits, so that two replicas of one
// connector publish under distinct producer names.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run opens the connector at the last committed checkpoint and publishes
// its records until the input is exhausted (nil), a failure stops it (the
// failure), or ctx ends (nil once the drain succeeded). Whatever ends it,
// Run then drains: it stops taking records from the connector, publishes
// every record it took, commits the checkpoint of the last record
// acknowledged with every record before it, and closes the connector,
// all within Options.DrainTimeout of ctx ending. Records that the drain
// could not publish in time count in Stats.Failed, and Run returns an
// error wrapping ErrUnpublished for them.
//
// Run first creates the producer of the default topic, and fails before
// reading anything when the topic cannot take records. An error that
// retrying cannot cure, such as a rejected token or a wrong dispatch
// strategy, fails it at once. While the broker does not respond (it is
// starting or down, or the URL is wrong), Run waits and logs a warning
// naming the topic and the error after the first failed attempt. It fails
// after Options.MaxRetries more attempts of Options.SendTimeout each,
// Options.RetryBackoff apart and doubling. Health reports ErrNotRunning
// meanwhile.
//
// These failures stop a Run:
//
//   - an error of Open or LastCheckpoint;
//   - a record the broker would not take (ErrUnpublished);
//   - a Poll, Stream or Commit error marked Fatal, or a Poll error that
//     outlasted the retries;
//   - a panic in Stream or Commit, as an error wrapping a
//     *supervisor.PanicError, with the stack logged once;
//   - a pipeline whose supervisor gave up.
//
// A panic or a Fatal error of Commit or Stream while the Run drains does
// not stop the drain, but Run reports it with the other errors.
//
// Run returns ErrAlreadyRunning while another Run is running.
func (rt *Runtime) Run(ctx context.Context) error {
	if !rt.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer rt.running.Store(false)

	start, err := rt.resumePoint(ctx)
	if err != nil {
		return err
	}
	rn := rt.newRun(start)
	pub := newPublisher(rt.client, &rt.opts, rt.producer, rn.forced)
	rt.setCurrent(rn)
	defer rt.setCurrent(nil)

	if err := rt.connect(ctx, pub); err != nil {
		pub.close(ctx)
		return fmt.Errorf("source %s: %w", rt.opts.ConnectorName, err)
	}
	if err := rt.conn.Open(ctx, start); err != nil {
		pub.close(ctx)
		return fmt.Errorf("source %s: open connector: %w", rt.opts.ConnectorName, err)
	}
	rt.setOpen(true)
	rt.log.Info("source started", slog.String("mode", rt.mode()), slog.String("topic", rt.opts.Topic),
		slog.Bool("resumed", start != nil))

	perr := rn.pipeline(ctx, pub)

	fctx, cancel := rn.finishContext(ctx)
	defer cancel()
	_, cerr := rn.commit(fctx)
	pub.close(fctx)
	xerr := rt.closeConn(fctx)

	counts := rn.ledger.counts()
	unpublished := counts.failed + rn.unsent
	rt.log.Info("source stopped", slog.Uint64("records", counts.added+uint64(rn.unsent)),
		slog.Uint64("published", counts.prefix), slog.Int("failed", unpublished), slog.Bool("committed", cerr == nil))

	var errs []error
	if err := rn.failed(); err != nil {
		errs = append(errs, err)
	} else if unpublished > 0 {
		// The records failed while the Run drained, so they did not stop
		// it, but they are unpublished all the same.
		errs = append(errs, fmt.Errorf("%w: the drain ended with %d of the records taken from the connector unpublished",
			ErrUnpublished, unpublished))
	}
	if perr != nil {
		errs = append(errs, perr)
	}
	errs = append(errs, rn.lateErrors()...)
	if cerr != nil {
		errs = append(errs, cerr)
	}
	if xerr != nil {
		errs = append(errs, fmt.Errorf("close connector: %w", xerr))
	}
	if rn.forced.Err() != nil {
		errs = append(errs, ErrForced)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("source %s: %w", rt.opts.ConnectorName, errors.Join(errs...))
}

// connect creates the producer of the default topic, trying again while
// the broker does not respond, as Run describes.
func (rt *Runtime) connect(ctx context.Context, pub *publisher) error {
	opts := &rt.opts
	for attempt := 1; ; attempt++ {
		actx, cancel := withTimeout(ctx, opts.Clock, opts.SendTimeout)
		_, err := pub.producer(actx, opts.Topic)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			if attempt > 1 {
				rt.log.Info("producer created; the broker takes records", slog.String("topic", opts.Topic),
					slog.Int("attempts", attempt))
			}
			return nil
		}
		if timedOut {
			err = fmt.Errorf("%w (no response within SendTimeout %v)", err, opts.SendTimeout)
		} else if ctx.Err() != nil || !mayPass(err) {
			return err
		}
		if attempt > opts.MaxRetries {
			return fmt.Errorf("%w (%d attempts)", err, attempt)
		}
		wait := backoffWait(opts.RetryBackoff, attempt)
		if attempt == 1 {
			rt.log.Warn("cannot create the producer; waiting for the broker", slog.String("topic", opts.Topic),
				slog.Any("error", err), slog.Duration("wait", wait), slog.Int("retries", opts.MaxRetries))
		}
		if err := sleep(ctx, opts.Clock, wait); err != nil {
			return fmt.Errorf("create producer for %s: %w", opts.Topic, err)
		}
	}
}

// resumePoint returns the checkpoint the next Open starts from.
func (rt *Runtime) resumePoint(ctx context.Context) (Checkpoint, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.resumed {
		return rt.committed, nil
	}
	cp, err := rt.conn.(Resumer).LastCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: read last checkpoint: %w", rt.opts.ConnectorName, err)
	}
	rt.committed, rt.resumed = cp, true
	return cp, nil
}

func (rt *Runtime) mode() string {
	if rt.streamer != nil {
		return "stream"
	}
	return "poll"
}

func (rt *Runtime) setCurrent(rn *run) {
	rt.mu.Lock()
	rt.current = rn
	rt.mu.Unlock()
}

// Force cuts the Run in progress short: the sends in flight are
// cancelled, the records not yet sent fail at once, a Commit in progress
// is cancelled, and the Run commits what the broker has acknowledged,
// closes the connector and returns an error wrapping ErrForced. Records
// that were sent but not acknowledged come again after a restart. Force
// does not wait, does nothing between Runs, and is safe to call from any
// goroutine; lifecycle services call it on a second SIGTERM. A batch
// waiting out a retry backoff fails at once.
func (rt *Runtime) Force() {
	rt.mu.Lock()
	rn := rt.current
	rt.mu.Unlock()
	if rn != nil {
		rn.force()
	}
}

func (rt *Runtime) setOpen(open bool) {
	rt.openMu.Lock()
	rt.open = open
	rt.openMu.Unlock()
}

// closeConn closes the connector once no Health call is running.
func (rt *Runtime) closeConn(ctx context.Context) error {
	rt.openMu.Lock()
	defer rt.openMu.Unlock()
	rt.open = false
	return rt.conn.Close(ctx)
}

func (rt *Runtime) setCommitted(cp Checkpoint) {
	rt.mu.Lock()
	rt.committed = cp
	rt.commits++
	rt.mu.Unlock()
}

// Health returns ErrNotRunning while no Run has the connector open, and
// otherwise what the connector's Health returns.
func (rt *Runtime) Health(ctx context.Context) error {
	rt.openMu.RLock()
	defer rt.openMu.RUnlock()
	if !rt.open {
		return ErrNotRunning
	}
	return rt.conn.Health(ctx)
}

// Stats is a snapshot of a Runtime's counters, summed over its Runs.
type Stats struct {
	// Published counts the records the broker acknowledged. A record
	// published again after a restart counts again.
	Published uint64
	// Failed counts the records that were not published: a send that
	// failed for good, or a record the drain did not get to.
	Failed uint64
	// Commits and CommitFailures count the calls of the connector's
	// Commit that succeeded and failed.
	Commits        uint64
	CommitFailures uint64
	// Checkpoint is the checkpoint of the last successful Commit, or the
	// one LastCheckpoint returned before it.
	Checkpoint Checkpoint
}

// Stats returns the Runtime's counters. WARNING: they move while a Run
// runs.
func (rt *Runtime) Stats() Stats {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return Stats{
		Published:      rt.published.Load(),
		Failed:         rt.failed.Load(),
		Commits:        rt.commits,
		CommitFailures: rt.commitFailures.Load(),
		Checkpoint:     rt.committed,
	}
}
