package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Supervisor runs children, restarts them by their policy and its
// strategy, and stops them in reverse start order. It is itself a Child, so
// it can be added to another supervisor.
//
// A Supervisor is made by New; its zero value is not usable. Its methods
// are safe for concurrent use. Run may be called again after it returned,
// which is how a parent restarts a nested supervisor: each run starts every
// child the supervisor holds, with fresh backoff and intensity counts.
//
// Cost: each running child is one goroutine, plus one context; a restart
// allocates a new context. The supervisor's own work happens in the
// goroutine that calls Run, so a supervisor with nothing to do costs no CPU.
type Supervisor struct {
	name   string
	cfg    config
	cfgErr error
	events *dispatcher // nil without hooks

	mu sync.Mutex
	// children in start order, and by name. While a run is in progress its
	// loop owns them and other methods go through handle; otherwise mu
	// guards them.
	children []*child
	byName   map[string]*child
	handle   *runHandle // non-nil while Run is in progress
	stopped  bool       // Run has returned and not been called again
	lastPath string     // the path of the latest run, or the name
}

// runHandle is the pair of channels through which Add, Remove and Children
// reach a run in progress.
type runHandle struct {
	requests chan request
	done     chan struct{} // closed when Run has returned
}

// New returns a supervisor named name with the given options. At the root
// of a tree the name is the first segment of every path. A nested
// supervisor takes its path from its parent instead (see Spec.Name).
//
// New does not fail. Add and Run report an invalid option with an error
// wrapping ErrInvalidOption.
func New(name string, opts ...Option) *Supervisor {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	s := &Supervisor{
		name:     name,
		cfg:      cfg,
		cfgErr:   errors.Join(cfg.errs...),
		byName:   make(map[string]*child),
		lastPath: name,
	}
	if s.cfgErr == nil && name == "" {
		s.cfgErr = fmt.Errorf("%w: empty supervisor name", ErrInvalidOption)
	}
	if len(cfg.hooks) > 0 {
		s.events = newDispatcher(cfg.hooks, cfg.eventBuffer, clock.OrReal(cfg.clock))
	}
	return s
}

// Name returns the name given to New.
func (s *Supervisor) Name() string { return s.name }

// Add adds a child after the ones already added, which is its place in the
// start order. A child added before Run starts with the run. A child added
// during Run starts at once, except that under OneForAll and RestForOne it
// waits until every child before it runs. Add returns once the child is
// added, not once it has started.
//
// Add returns an error wrapping ErrInvalidSpec for a spec it rejects and
// ErrDuplicateName when a sibling has the name. It returns ErrStopped,
// without waiting, when Run has returned or the supervisor is shutting
// down. A nested supervisor that its parent is restarting counts as
// stopped until its parent calls Run again.
func (s *Supervisor) Add(spec Spec) error {
	if s.cfgErr != nil {
		return fmt.Errorf("supervisor %s: add child %q: %w", s.name, spec.Name, s.cfgErr)
	}
	if err := spec.validate(); err != nil {
		return fmt.Errorf("supervisor %s: add: %w", s.name, err)
	}

	s.mu.Lock()
	h := s.handle
	if h == nil {
		defer s.mu.Unlock()
		if s.stopped {
			return fmt.Errorf("supervisor %s: add child %q: %w", s.lastPath, spec.Name, ErrStopped)
		}
		if _, taken := s.byName[spec.Name]; taken {
			return fmt.Errorf("supervisor %s: add child %q: %w", s.lastPath, spec.Name, ErrDuplicateName)
		}
		s.insertLocked(newChild(spec))
		return nil
	}
	s.mu.Unlock()

	return h.call(request{op: opAdd, spec: spec}, func() error {
		return fmt.Errorf("supervisor %s: add child %q: %w", s.name, spec.Name, ErrStopped)
	})
}

// Remove stops the named child, waiting up to its shutdown timeout, and
// removes it, so that it is not restarted and its name can be used again.
// Stopping the child does not trigger a restart of its siblings or an auto
// shutdown. A child waiting for a restart or one that has ended is removed
// at once, and so is any child when Run is not in progress.
//
// Remove returns an error wrapping ErrNotFound when no child has the name,
// and ErrStopTimeout when the child did not return in time, in which case
// the child is removed all the same. A child that calls Remove on itself
// waits for its own shutdown timeout, so it should return instead.
func (s *Supervisor) Remove(name string) error {
	s.mu.Lock()
	h := s.handle
	if h == nil {
		defer s.mu.Unlock()
		c, ok := s.byName[name]
		if !ok {
			return fmt.Errorf("supervisor %s: remove child %q: %w", s.lastPath, name, ErrNotFound)
		}
		s.deleteLocked(c)
		return nil
	}
	s.mu.Unlock()

	return h.call(request{op: opRemove, name: name}, func() error {
		// The run ended between the check and the request; every child
		// stopped with it, so removing is all that is left.
		return s.Remove(name)
	})
}

// Children returns a snapshot of the children in start order. WARNING: the
// states may have changed by the time the caller reads them. Use the
// snapshot for inspection and tests, not to decide what to do next.
func (s *Supervisor) Children() []ChildInfo {
	s.mu.Lock()
	h := s.handle
	if h == nil {
		defer s.mu.Unlock()
		return s.snapshotLocked()
	}
	s.mu.Unlock()

	reply := make(chan []ChildInfo, 1)
	select {
	case h.requests <- request{op: opChildren, children: reply}:
		return <-reply
	case <-h.done:
		return s.Children()
	}
}

// DroppedEvents returns how many events the hooks missed because the event
// queue was full, since New.
func (s *Supervisor) DroppedEvents() uint64 {
	if s.events == nil {
		return 0
	}
	return s.events.droppedTotal()
}

// Run starts the children in start order and supervises them until one of
// these happens, then stops the running children in reverse start order,
// one at a time, each within its shutdown timeout, and returns:
//
//   - ctx is done: Run returns nil;
//   - the intensity limit is exceeded: Run returns an *IntensityError,
//     which wraps ErrIntensity;
//   - the auto-shutdown setting is met: Run returns nil.
//
// A child that does not return within its timeout is reported with a
// StopTimedOut event and left behind, so Run returns even then. A child
// waiting for its backoff delay is not started again, so a stop during
// backoff does not wait for the delay.
//
// Children do not see ctx's cancellation or deadline directly. Each has a
// context of its own, carrying ctx's values, which the supervisor cancels
// when it is that child's turn to stop. Run returns at once an error wrapping
// ErrInvalidOption when an option was invalid, and ErrAlreadyRunning when
// another Run is in progress.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.cfgErr != nil {
		return fmt.Errorf("supervisor %s: %w", s.name, s.cfgErr)
	}

	path, clk := s.name, s.cfg.clock
	var parentEmit func(Event)
	if sc := scopeFrom(ctx); sc != nil {
		path, parentEmit = sc.path, sc.emit
		if clk == nil {
			clk = sc.clock
		}
	}
	clk = clock.OrReal(clk)

	s.mu.Lock()
	if s.handle != nil {
		s.mu.Unlock()
		return fmt.Errorf("supervisor %s: %w", path, ErrAlreadyRunning)
	}
	e := newEngine(s, ctx, path, clk, parentEmit)
	s.handle = &runHandle{requests: e.requests, done: e.done}
	s.stopped = false
	s.lastPath = path
	s.mu.Unlock()

	err := e.loop(ctx)

	s.mu.Lock()
	e.finish()
	s.handle = nil
	s.stopped = true
	close(e.done)
	s.mu.Unlock()
	return err
}

// call sends r to the run loop and waits for its reply; when the run ends
// before the loop took r, it returns ended() instead.
func (h *runHandle) call(r request, ended func() error) error {
	r.reply = make(chan error, 1)
	select {
	case h.requests <- r:
		return <-r.reply
	case <-h.done:
		return ended()
	}
}

func (s *Supervisor) insertLocked(c *child) {
	s.children = append(s.children, c)
	s.byName[c.spec.Name] = c
}

func (s *Supervisor) deleteLocked(c *child) {
	if i := slices.Index(s.children, c); i >= 0 {
		s.children = slices.Delete(s.children, i, i+1)
	}
	delete(s.byName, c.spec.Name)
}

func (s *Supervisor) snapshotLocked() []ChildInfo {
	infos := make([]ChildInfo, 0, len(s.children))
	for _, c := range s.children {
		infos = append(infos, c.info(s.lastPath))
	}
	return infos
}
