package stage

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrDrainTimeout is matched by a *DrainError with errors.Is.
var ErrDrainTimeout = errors.New("drain deadline passed")

// DrainError is the error Run returns when its drain missed the graceful
// phase and was forced. Every message that was not written was nacked,
// except the Unsettled ones.
type DrainError struct {
	// Pipeline is the pipeline's name.
	Pipeline string
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
	fmt.Fprintf(&b, "pipeline %s: %v", e.Pipeline, ErrDrainTimeout)
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

// drain stops the entry, waits for the stages to finish what they hold,
// and forces them when the graceful phase runs out.
func (p *Pipeline) drain(supCancel func(), supDone <-chan error) error {
	clk := p.opts.Clock
	deadline := clk.Now().Add(p.opts.DrainTimeout)
	timer := clk.NewTimer(p.opts.DrainTimeout - p.forcePhase())
	defer timer.Stop()

	// Phase one: the entry stops taking messages; each stage finishes,
	// flushes and closes its output in turn, down to the ack stage.
	p.stopCancel()
	select {
	case <-p.finished:
		supCancel()
		<-supDone
		return nil
	case err := <-supDone:
		return p.gaveUp(err)
	case <-timer.C():
	}

	// Phase two: cancel every stage at once, give them the rest of the
	// timeout to return, and settle what they and the channels hold.
	stuck := p.stuckStages()
	p.forceCancel()
	supCancel()
	timer.Reset(deadline.Sub(clk.Now()))
	select {
	case <-supDone:
	case <-timer.C():
	}

	res := p.cleanUp()
	derr := &DrainError{
		Pipeline:  p.name,
		Stuck:     stuck,
		Abandoned: res.abandoned,
		Nacked:    res.nacked,
		Unsettled: p.flow.msgs.Load(),
	}
	p.opts.Logger.Warn("pipeline drain forced: messages not written were nacked and will be delivered again",
		"pipeline", p.name, "stuck", stuck, "abandoned", res.abandoned, "nacked", res.nacked)
	return derr
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
