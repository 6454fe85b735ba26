package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// Pipeline is a chain of stages, from one Source to one Writer, each stage
// a supervised child running in a goroutine of its own, each joined to the
// next by a bounded channel that the pipeline owns.
//
// Make one with New, join its stages with From, Then, Batch and Write, and
// call Run. A Pipeline is a supervisor.Child, so it can run under a larger
// supervision tree, which may restart it after it gave up. Its methods are
// safe for concurrent use, but stages must be joined before Run.
type Pipeline struct {
	name string
	opts Options
	obs  *Observer
	flow *flowState

	mu        sync.Mutex
	stages    []runner // in pipeline order, the ack stage last
	links     []*link  // every channel, for Queues
	renewals  []func() // per channel, replaces it before a new run
	names     map[string]bool
	errs      []error
	hasSource bool
	hasWriter bool
	running   bool
	runs      int

	// Set up before each run, read by the stages.
	stopCtx     context.Context // done when the drain begins
	stopCancel  context.CancelFunc
	forceCtx    context.Context // done when the drain is forced
	forceCancel context.CancelFunc
	finished    chan struct{} // closed when the ack stage has settled everything
	finishOnce  *sync.Once
	forceReq    chan struct{} // closed by Force
	forceOnce   *sync.Once
	// gracefulEnd is when the graceful phase of the drain ends, set before
	// stopCtx is done and read only after.
	gracefulEnd time.Time
}

// New returns an empty pipeline named name, the root of its stages' paths
// ("sink/write") unless it runs under another supervisor. The name must be
// non-empty and must not contain '/'. New does not fail: an invalid name or
// option is reported, wrapping ErrInvalidPipeline, by Run.
func New(name string, opts Options) *Pipeline {
	p := &Pipeline{name: name, names: make(map[string]bool)}
	o, err := opts.withDefaults()
	if err != nil {
		p.invalid("options: %v", err)
		o, _ = Options{}.withDefaults()
	}
	p.opts = o
	switch {
	case name == "":
		p.invalid("empty pipeline name")
	case strings.Contains(name, "/"):
		p.invalid("the pipeline name %q contains '/', the path separator", name)
	}
	p.obs = o.Observer.active()
	p.flow = newFlowState(int64(o.MaxInFlight), o.MaxInFlightBytes, p.obs)
	return p
}

// Name returns the name given to New.
func (p *Pipeline) Name() string { return p.name }

// Err returns the error Run would return for the way the pipeline was
// built: nil when it is valid, or an error wrapping ErrInvalidPipeline
// that names every problem recorded so far, such as a stage name taken
// twice, a flow joined twice, an invalid option, or a missing source or
// write stage. Call it once every stage is joined, to reject a bad build
// before running it. It changes nothing, and costs a lock and, for an
// invalid pipeline, the error's formatting.
func (p *Pipeline) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.check()
}

// addStage appends s, whose output is out (nil for the ack stage). What
// waits in out is nacked when the pipeline cleans up, or with applied set,
// settled as the writer decided.
func addStage[T any](p *Pipeline, s runner, out *edge[T], applied bool) {
	b := s.base()
	p.names[b.name] = true
	p.stages = append(p.stages, s)
	if out == nil {
		return
	}
	p.links = append(p.links, &out.link)
	p.renewals = append(p.renewals, out.renew)
	if applied {
		b.drainOut = applyEdge(p, out)
	} else {
		b.drainOut = nackEdge(p, out)
	}
}

// nackEdge returns the clean-up of the channel e: nack what waits in it.
func nackEdge[T any](p *Pipeline, e *edge[T]) func(*tally) int {
	return func(tl *tally) int {
		v := p.leftover("the pipeline stopped before the message was written")
		return drainEdge(e, func(c *chunk[T]) int { return nackAll(c.msgs, v, tl) })
	}
}

// applyEdge returns the clean-up of the channel into the ack stage: apply
// the outcomes that wait in it, since they were decided by the writer.
func applyEdge[T any](p *Pipeline, e *edge[T]) func(*tally) int {
	return func(tl *tally) int {
		return drainEdge(e, func(c *chunk[T]) int { return applyVerdicts(c, 0, tl, true) })
	}
}

// leftover returns the nack of a message that the pipeline settles itself
// because it stopped before the message got through.
func (p *Pipeline) leftover(what string) verdict {
	return nackVerdict(p.opts.NackDelay, "pipeline "+p.name+": "+what)
}

// markFinished records that the ack stage has settled every message: the
// input is exhausted and every stage is done.
func (p *Pipeline) markFinished() {
	p.finishOnce.Do(func() { close(p.finished) })
}

// check returns the errors recorded while the pipeline was built. The
// caller holds p.mu.
func (p *Pipeline) check() error {
	errs := slices.Clip(p.errs) // appending must not touch p.errs
	if !p.hasSource {
		errs = append(errs, errors.New("no source; add one with From"))
	}
	if !p.hasWriter {
		errs = append(errs, errors.New("no write stage; end the pipeline with Batch and Write"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("pipeline %s: %w: %w", p.name, ErrInvalidPipeline, errors.Join(errs...))
}

// begin checks that the pipeline may run and prepares the run.
func (p *Pipeline) begin() error {
	p.mu.Lock()
	defer p.mu.Unlock()

	if err := p.check(); err != nil {
		return err
	}
	if p.running {
		return fmt.Errorf("pipeline %s: %w", p.name, ErrAlreadyRunning)
	}
	for _, s := range p.stages {
		b := s.base()
		b.mu.Lock()
		stuck := b.running
		b.mu.Unlock()
		if stuck {
			return fmt.Errorf("pipeline %s: %w: stage %s of the previous run has not returned", p.name, ErrAlreadyRunning, b.pathName())
		}
	}

	if p.runs > 0 {
		for _, renew := range p.renewals {
			renew()
		}
		for _, s := range p.stages {
			s.reset()
			b := s.base()
			b.mu.Lock()
			b.forced = false
			b.mu.Unlock()
			b.setStatus(statusStopped)
		}
	}
	p.runs++
	p.running = true
	p.stopCtx, p.stopCancel = context.WithCancel(context.Background())
	p.forceCtx, p.forceCancel = context.WithCancel(context.Background())
	p.finished = make(chan struct{})
	p.finishOnce = new(sync.Once)
	p.forceReq = make(chan struct{})
	p.forceOnce = new(sync.Once)
	p.gracefulEnd = time.Time{}
	return nil
}

func (p *Pipeline) end() {
	p.stopCancel()
	p.forceCancel()
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
}

// Run runs the pipeline until one of three things happens. When the source
// is exhausted and every message is settled, Run returns nil. When the
// supervisor gives up on a stage that keeps failing, Run returns its error.
// When ctx is done, Run drains the pipeline and returns.
//
// The drain has two phases within Options.DrainTimeout. In the first, the
// graceful phase, the entry stops taking messages from the source, and
// every stage finishes what it holds: partial batches are written and
// acked, however far away their MaxWait. A batch waiting to be written
// again is nacked at once if its retry would come after the graceful
// phase. If everything is settled within 1-ForceShare of the timeout, Run
// returns nil. Otherwise the drain is forced: every stage's context is
// cancelled, and whatever was not written, in a stage or in a channel
// between stages, is nacked, while what was written is still acked. Run
// then returns a *DrainError naming the stages that held the drain up.
// Force ends the graceful phase before its time.
//
// When the supervisor gives up, Run nacks what the stages held and returns
// its error, wrapping supervisor.ErrIntensity.
//
// A stage that does not return once cancelled, stuck in user code, is left
// behind when Run returns, and named in DrainError.Abandoned: the messages
// it holds are nacked, and its own settlement of them, if it ever comes, is
// ignored. Run may be called again after it returned, unless a stage is
// still stuck.
//
// Under a parent supervisor, give the pipeline's Spec a ShutdownTimeout
// longer than DrainTimeout, so that the parent waits for the drain.
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.begin(); err != nil {
		return err
	}
	defer p.end()

	sup, err := p.supervisor()
	if err != nil {
		return err
	}
	// The supervisor would stop the stages in reverse order if it saw ctx
	// end, which is the wrong order for a drain: the pipeline drains from
	// its entry and cancels the supervisor itself.
	supCtx, supCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer supCancel()
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()

	select {
	case <-p.finished:
		supCancel()
		<-supDone
		return nil
	case err := <-supDone:
		return p.gaveUp(err)
	case <-ctx.Done():
		return p.drain(supCancel, supDone)
	}
}

// supervisor returns the pipeline's supervisor with every stage added.
func (p *Pipeline) supervisor() (*supervisor.Supervisor, error) {
	opts := []supervisor.Option{
		supervisor.WithStrategy(supervisor.RestForOne),
		supervisor.WithClock(p.opts.Clock),
	}
	sup := supervisor.New(p.name, append(opts, p.opts.Supervisor...)...)
	for _, s := range p.stages {
		err := sup.Add(supervisor.Spec{
			Name:            s.base().name,
			Child:           s,
			Restart:         supervisor.Transient,
			ShutdownTimeout: p.forcePhase(),
		})
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", p.name, err)
		}
	}
	return sup, nil
}

// gaveUp cleans up after the supervisor stopped every stage by itself.
func (p *Pipeline) gaveUp(err error) error {
	if isDone(p.finished) {
		return nil
	}
	res := p.cleanUp()
	p.opts.Logger.Error("pipeline stopped: its supervisor gave up",
		"pipeline", p.name, "error", err, "nacked", res.nacked, "abandoned", res.abandoned)
	if err == nil {
		err = errors.New("supervisor returned early")
	}
	return fmt.Errorf("pipeline %s: %w", p.name, err)
}

// Stats is a snapshot of a pipeline's counters. Counts are of messages as
// they entered the pipeline: a message split by FlatMap counts once.
type Stats struct {
	// InFlight and InFlightBytes are the messages admitted and not yet
	// settled, and their size.
	InFlight      int64
	InFlightBytes int64
	// Acked, Nacked and DeadLettered count the settled messages, since New.
	Acked        uint64
	Nacked       uint64
	DeadLettered uint64
	// Duplicates counts the settlements ignored because the message was
	// settled already: a bug in user code that settles a message it does
	// not own, unless a forced drain raced with the stage settling it.
	Duplicates uint64
}

// Stats returns the pipeline's counters. WARNING: they move while the
// pipeline runs; read them for monitoring and after Run returned.
func (p *Pipeline) Stats() Stats {
	f := p.flow
	return Stats{
		InFlight:      f.msgs.Load(),
		InFlightBytes: f.bytes.Load(),
		Acked:         f.acked.Load(),
		Nacked:        f.nacked.Load(),
		DeadLettered:  f.deadLettered.Load(),
		Duplicates:    f.duplicates.Load(),
	}
}
