package stage

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrDrainTimeout is matched by a *DrainError with errors.Is.
var ErrDrainTimeout = errors.New("drain deadline passed")

// DrainError is the error Run returns when its drain was forced: it did
// not finish within its graceful phase, or Force ended that phase. Every
// message that was not written was nacked, except the Unsettled ones. It
// matches ErrDrainTimeout with errors.Is in either case.
type DrainError struct {
	// Pipeline is the pipeline's name.
	Pipeline string
	// Forced is true when Force ended the graceful phase before its
	// deadline, or made the drain start in the forced phase.
	Forced bool
	// Stuck holds the paths of the stages that were still busy, in user
	// code or retrying a write, when the graceful phase ended. When none
	// was busy, it holds the first stage that had not finished.
	Stuck []string
	// Abandoned holds the paths of the stages that had not returned when
	// Run returned, stuck in user code that ignores its context. Their
	// goroutines are still running.
	Abandoned []string
	// Nacked counts the messages the forced phase nacked.
	Nacked int64
	// Unsettled counts the messages still in flight when Run returned.
	// An abandoned stage holds them where the pipeline cannot reach them,
	// and settles them if it ever returns.
	Unsettled int64
}

func (e *DrainError) Error() string {
	var b strings.Builder
	if e.Forced {
		fmt.Fprintf(&b, "pipeline %s: drain forced", e.Pipeline)
	} else {
		fmt.Fprintf(&b, "pipeline %s: %v", e.Pipeline, ErrDrainTimeout)
	}
	if len(e.Stuck) > 0 {
		fmt.Fprintf(&b, ": stuck in %s", strings.Join(e.Stuck, ", "))
	}
	fmt.Fprintf(&b, "; %d messages nacked", e.Nacked)
	if len(e.Abandoned) > 0 {
		fmt.Fprintf(&b, "; abandoned %s", strings.Join(e.Abandoned, ", "))
	}
	if e.Unsettled > 0 {
		fmt.Fprintf(&b, "; %d messages unsettled", e.Unsettled)
	}
	return b.String()
}

// Is reports whether target is ErrDrainTimeout.
func (e *DrainError) Is(target error) bool { return target == ErrDrainTimeout }

// forcePhase returns the part of the drain timeout kept for the forced
// phase.
func (p *Pipeline) forcePhase() time.Duration {
	return max(time.Duration(float64(p.opts.DrainTimeout)*p.opts.ForceShare), time.Millisecond)
}

// Force makes the drain of the current run forced: during the graceful
// phase it ends that phase at once, and before the drain began it makes
// the drain start in the forced phase, when Run's context is done. The
// forced phase then goes as Run describes: the stages are cancelled, what
// was not written is nacked, what was written is acked, and Run returns a
// *DrainError with Forced set, within the forced phase's share of
// Options.DrainTimeout. Force does not begin a drain; cancel Run's context
// for that.
//
// Force returns at once, without waiting for the drain, and may be called
// from any goroutine, any number of times. It does nothing when Run is not running, during the forced phase,
// or once the drain has finished; a later run starts unforced.
func (p *Pipeline) Force() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		p.forceOnce.Do(func() { close(p.forceReq) })
	}
}

// drain stops the entry, waits for the stages to finish what they hold,
// and forces them when the graceful phase runs out or Force is called.
func (p *Pipeline) drain(supCancel func(), supDone <-chan error) error {
	clk := p.opts.Clock
	forced := isDone(p.forceReq)
	graceful := max(p.opts.DrainTimeout-p.forcePhase(), 0)
	if forced {
		graceful = 0
	}
	now := clk.Now()
	deadline := now.Add(p.opts.DrainTimeout)
	p.gracefulEnd = now.Add(graceful)

	// Phase one: the entry stops taking messages; each stage finishes,
	// flushes and closes its output in turn, down to the ack stage.
	p.stopCancel()
	if !forced {
		timer := clk.NewTimer(graceful)
		select {
		case <-p.finished:
		case err := <-supDone:
			timer.Stop()
			return p.gaveUp(err)
		case <-timer.C():
		case <-p.forceReq:
			forced = true
		}
		timer.Stop()
	}
	if isDone(p.finished) {
		supCancel()
		<-supDone
		return nil
	}

	// Phase two: cancel every stage at once, give them the forced phase's
	// share of the timeout to return, and settle what they and the
	// channels hold.
	stuck := p.stuckStages()
	p.forceCancel()
	supCancel()
	timer := clk.NewTimer(min(p.forcePhase(), deadline.Sub(clk.Now())))
	defer timer.Stop()
	select {
	case <-supDone:
	case <-timer.C():
	}

	res := p.cleanUp()
	derr := &DrainError{
		Pipeline:  p.name,
		Forced:    forced,
		Stuck:     stuck,
		Abandoned: res.abandoned,
		Nacked:    res.nacked,
		Unsettled: p.flow.msgs.Load(),
	}
	p.opts.Logger.Warn("pipeline drain forced: messages not written were nacked and will be delivered again",
		"pipeline", p.name, "by_force", forced, "stuck", stuck, "abandoned", res.abandoned, "nacked", res.nacked)
	return derr
}

// drainForcedBy reports whether the pipeline is draining and its graceful
// phase ends at or before t, so that work planned for t would come in the
// forced phase, when the stages are cancelled.
func (p *Pipeline) drainForcedBy(t time.Time) bool {
	return isDone(p.stopCtx.Done()) && !t.Before(p.gracefulEnd)
}

// stuckStages returns the paths of the stages that hold the drain up.
func (p *Pipeline) stuckStages() []string {
	var busy []string
	firstUnfinished := ""
	for _, s := range p.stages {
		b := s.base()
		st := b.getStatus()
		if st == statusBusy {
			busy = append(busy, b.pathName())
		}
		if firstUnfinished == "" && st != statusDone {
			firstUnfinished = b.pathName()
		}
	}
	if len(busy) == 0 && firstUnfinished != "" {
		busy = []string{firstUnfinished}
	}
	return busy
}

type cleanUpResult struct {
	nacked    int64
	abandoned []string
}

// cleanUp settles everything the stages and the channels hold, once the
// stages were cancelled. It goes from the ack stage back to the entry, so
// that outcomes the writer decided are applied before anything is nacked.
//
// Every stage is marked forced before anything is settled: a stage still
// running may send a chunk after its output channel was emptied, and a
// forced stage that returns empties that channel again.
func (p *Pipeline) cleanUp() cleanUpResult {
	var res cleanUpResult
	for _, s := range p.stages {
		b := s.base()
		b.mu.Lock()
		b.forced = true
		b.mu.Unlock()
	}

	tl := newTally(p.flow, "")
	for i := len(p.stages) - 1; i >= 0; i-- {
		s := p.stages[i]
		b := s.base()
		b.mu.Lock()
		s.settleHeld(&tl, b.running)
		if b.running {
			res.abandoned = append(res.abandoned, b.path)
		}
		b.mu.Unlock()

		if i > 0 {
			p.stages[i-1].base().drainOut(&tl)
		}
	}
	res.nacked = int64(tl.nacked)
	tl.flush()
	return res
}
