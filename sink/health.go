package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// health keeps what the liveness check needs: the children the
// supervisors left behind, and when each route last settled a record.
type health struct {
	rt *Runtime

	mu        sync.Mutex
	abandoned []string
	progress  map[*route]progress
}

type progress struct {
	settled uint64    // records the route had settled at the last check
	at      time.Time // when that count last changed, or the route held nothing
}

// reset clears the state at the start of a run.
func (h *health) reset(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.abandoned = nil
	h.progress = make(map[*route]progress)
	for _, r := range h.rt.routes {
		h.progress[r] = progress{at: now}
	}
}

// observe is a supervisor hook of every supervisor of the runtime.
func (h *health) observe(e supervisor.Event) {
	if e, ok := e.(supervisor.StopTimedOut); ok {
		h.mu.Lock()
		h.abandoned = append(h.abandoned, e.ChildPath)
		h.mu.Unlock()
	}
}

// Live returns nil while the runtime works, and otherwise the reason, so
// that the process is restarted. It fails in three cases: Run has returned
// with an error because its supervisor gave up; a stage or child did not
// stop in time and was left running, stuck in the connector; or a route
// has held records without settling any for StallTimeout. It is meant for a
// liveness probe, such as /healthz, and is safe to call at any time; it
// does not call the connector.
func (rt *Runtime) Live(ctx context.Context) error {
	rt.mu.Lock()
	running, runErr := rt.running, rt.runErr
	rt.mu.Unlock()
	if !running && runErr != nil {
		return fmt.Errorf("the sink stopped: %w", runErr)
	}

	h := &rt.health
	now := rt.clk.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.abandoned) > 0 {
		return fmt.Errorf("left running after it did not stop in time: %s", strings.Join(h.abandoned, ", "))
	}
	if !running {
		return nil
	}
	for _, r := range rt.routes {
		st := r.pipe.Stats()
		settled := st.Acked + st.Nacked + st.DeadLettered
		p := h.progress[r]
		if settled != p.settled || st.InFlight == 0 {
			h.progress[r] = progress{settled: settled, at: now}
			continue
		}
		if stalled := now.Sub(p.at); stalled > rt.cfg.StallTimeout {
			return fmt.Errorf("route %s has held %d records for %v without settling any", r.label, st.InFlight, stalled.Round(time.Second))
		}
	}
	return nil
}

// Ready returns nil when the sink can work now: Run is running, every
// route is subscribed, the connector is open and its Health check
// passes. Otherwise it returns why not: while the connector is not open,
// that includes the error of its last failed Open, which the connector
// must keep free of secrets, as it does for its other errors. It is meant
// for a readiness probe, such as /readyz, and is safe to call at any
// time.
func (rt *Runtime) Ready(ctx context.Context) error {
	rt.mu.Lock()
	running := rt.running
	rt.mu.Unlock()
	if !running {
		return errors.New("the sink is not running")
	}
	if err := rt.state.unready(); err != nil {
		return err
	}
	for _, r := range rt.routes {
		if r.current() == nil {
			return fmt.Errorf("route %s is not subscribed", r.label)
		}
	}
	if err := rt.state.conn.Health(ctx); err != nil {
		return fmt.Errorf("connector health: %w", err)
	}
	return nil
}
