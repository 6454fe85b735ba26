package supervisor

import (
	"fmt"
	"time"
)

// Event is something that happened in a supervision tree, delivered to the
// hooks given with WithHook. Each kind of event is a struct of its own,
// passed by value, with an exported field for each fact about it. A type
// switch on the struct reads the fields, and Type serves code that only
// counts events.
type Event interface {
	// Type returns the kind of event.
	Type() EventType
	// Path returns the path in the tree of the child the event is about,
	// such as "root/sink/write". For an event about a supervisor as a
	// whole (GaveUp, AutoShutdownStarted, EventsDropped) it is the
	// supervisor's path.
	Path() string
	// String returns a one-line description for humans.
	String() string
}

// EventType is the kind of an Event.
type EventType int

// The kinds of events, one for each event struct.
const (
	EventChildStarted EventType = iota + 1
	EventChildExited
	EventChildStopped
	EventChildFailed
	EventChildPanicked
	EventChildRestarting
	EventStopTimedOut
	EventGaveUp
	EventAutoShutdownStarted
	EventEventsDropped
)

var eventTypeNames = [...]string{
	EventChildStarted:        "child_started",
	EventChildExited:         "child_exited",
	EventChildStopped:        "child_stopped",
	EventChildFailed:         "child_failed",
	EventChildPanicked:       "child_panicked",
	EventChildRestarting:     "child_restarting",
	EventStopTimedOut:        "stop_timed_out",
	EventGaveUp:              "gave_up",
	EventAutoShutdownStarted: "auto_shutdown_started",
	EventEventsDropped:       "events_dropped",
}

// String returns the kind in snake case, such as "child_failed", suitable
// as a metric label.
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// ChildStarted reports that the supervisor called a child's Run.
type ChildStarted struct {
	// At is when Run was called, on the supervisor's clock (see
	// WithClock).
	At time.Time
	// ChildPath is the child's path in the tree, such as
	// "root/sink/write".
	ChildPath string
	// Restarts is how many times the child was started before in this run
	// of its supervisor, 0 on the first start.
	Restarts int
}

// ChildExited reports that a child returned nil while its context was
// live: a normal exit. A Permanent child is restarted after it; for a
// Transient or Temporary child it is the end.
type ChildExited struct {
	// At is when the supervisor saw Run return, on its clock.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Ran is how long Run ran, from its start to its return, on the
	// supervisor's clock.
	Ran time.Duration
}

// ChildStopped reports that a child returned after the supervisor had
// cancelled its context.
type ChildStopped struct {
	// At is when the supervisor saw Run return, on its clock.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Cause is the supervisor's reason to stop it: ErrShutdown, ErrRemoved
	// or ErrSiblingFailed.
	Cause error
	// Err is the value Run returned, often context.Canceled, and is not a
	// failure.
	Err error
}

// ChildFailed reports that a child returned an error while its context was
// live. ChildRestarting follows if its policy restarts it.
type ChildFailed struct {
	// At is when the supervisor saw Run return, on its clock.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Err is the error Run returned, never nil.
	Err error
	// Ran is how long Run ran, from its start to its return, on the
	// supervisor's clock.
	Ran time.Duration
}

// ChildPanicked reports that a child's Run panicked and the supervisor
// recovered it. It replaces ChildFailed for that failure, and
// ChildRestarting follows if the child's policy restarts it.
type ChildPanicked struct {
	// At is when the supervisor saw Run end in the panic, on its clock.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Err is the failure as the supervisor handles it: it carries
	// PanicValue and Stack too.
	Err *PanicError
	// PanicValue is the value passed to panic.
	PanicValue any
	// Stack is the formatted stack of the goroutine that panicked.
	Stack []byte
	// Ran is how long Run ran before it panicked, on the supervisor's
	// clock.
	Ran time.Duration
}

// ChildRestarting reports that a child will be started again after Delay.
// It is sent only for the child whose return caused the restart. Siblings
// that the strategy restarts with it report ChildStopped, with Cause
// ErrSiblingFailed, and later ChildStarted.
type ChildRestarting struct {
	// At is when the supervisor decided the restart, on its clock, which
	// is when it saw the child return.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Err is the failure that caused the restart, nil when a Permanent
	// child returned nil.
	Err error
	// Delay is the backoff wait before the child starts again, counted
	// from At. Under OneForAll and RestForOne the start may come later,
	// once the children before it run.
	Delay time.Duration
	// Attempt counts the restarts since the child last ran for its
	// backoff's ResetAfter, 1 for the first.
	Attempt int
}

// StopTimedOut reports that a child did not return within Timeout of the
// cancellation of its context. The supervisor has left it behind and gone
// on; its goroutine keeps running until Run returns.
type StopTimedOut struct {
	// At is when the supervisor found the timeout passed, on its clock.
	At time.Time
	// ChildPath is the child's path in the tree.
	ChildPath string
	// Timeout is the child's shutdown timeout: Spec.ShutdownTimeout, or
	// the supervisor's default when that is zero.
	Timeout time.Duration
}

// GaveUp reports that a supervisor exceeded its restart intensity: it
// stops its children and Run returns an *IntensityError.
type GaveUp struct {
	// At is when the supervisor gave up, on its clock.
	At time.Time
	// ChildPath is the path of the supervisor that gave up.
	ChildPath string
	// MaxRestarts and Period are the restart intensity that was
	// exceeded, as set by WithIntensity.
	MaxRestarts int
	Period      time.Duration
	// Err is the failure that crossed the limit, a *ChildError naming
	// the child.
	Err error
}

// AutoShutdownStarted reports that a supervisor stops by itself because of
// its auto-shutdown setting; Run returns nil once its children stopped.
type AutoShutdownStarted struct {
	// At is when the shutdown began, on the supervisor's clock.
	At time.Time
	// ChildPath is the path of the supervisor that stops.
	ChildPath string
	// Trigger is the path of the significant child whose end triggered it.
	Trigger string
	// Mode is the supervisor's auto-shutdown setting, AnySignificant or
	// AllSignificant.
	Mode AutoShutdown
}

// EventsDropped reports that hooks missed events because the event queue
// was full (see WithEventBuffer). It is delivered once the queue has room
// again.
type EventsDropped struct {
	// At is when the event was delivered, once the queue had emptied, on
	// the supervisor's clock.
	At time.Time
	// ChildPath is the path of the supervisor whose queue was full.
	ChildPath string
	// Count is how many events were dropped since the previous
	// EventsDropped.
	Count uint64
}

func (e ChildStarted) Type() EventType        { return EventChildStarted }
func (e ChildExited) Type() EventType         { return EventChildExited }
func (e ChildStopped) Type() EventType        { return EventChildStopped }
func (e ChildFailed) Type() EventType         { return EventChildFailed }
func (e ChildPanicked) Type() EventType       { return EventChildPanicked }
func (e ChildRestarting) Type() EventType     { return EventChildRestarting }
func (e StopTimedOut) Type() EventType        { return EventStopTimedOut }
func (e GaveUp) Type() EventType              { return EventGaveUp }
func (e AutoShutdownStarted) Type() EventType { return EventAutoShutdownStarted }
func (e EventsDropped) Type() EventType       { return EventEventsDropped }

func (e ChildStarted) Path() string        { return e.ChildPath }
func (e ChildExited) Path() string         { return e.ChildPath }
func (e ChildStopped) Path() string        { return e.ChildPath }
func (e ChildFailed) Path() string         { return e.ChildPath }
func (e ChildPanicked) Path() string       { return e.ChildPath }
func (e ChildRestarting) Path() string     { return e.ChildPath }
func (e StopTimedOut) Path() string        { return e.ChildPath }
func (e GaveUp) Path() string              { return e.ChildPath }
func (e AutoShutdownStarted) Path() string { return e.ChildPath }
func (e EventsDropped) Path() string       { return e.ChildPath }

func (e ChildStarted) String() string {
	if e.Restarts == 0 {
		return fmt.Sprintf("child %s started", e.ChildPath)
	}
	return fmt.Sprintf("child %s started again (restart %d)", e.ChildPath, e.Restarts)
}

func (e ChildExited) String() string {
	return fmt.Sprintf("child %s exited normally after %v", e.ChildPath, e.Ran)
}

func (e ChildStopped) String() string {
	return fmt.Sprintf("child %s stopped: %v", e.ChildPath, e.Cause)
}

func (e ChildFailed) String() string {
	return fmt.Sprintf("child %s failed after %v: %v", e.ChildPath, e.Ran, e.Err)
}

func (e ChildPanicked) String() string {
	return fmt.Sprintf("child %s panicked after %v: %v", e.ChildPath, e.Ran, e.PanicValue)
}

func (e ChildRestarting) String() string {
	return fmt.Sprintf("child %s restarting in %v (attempt %d)", e.ChildPath, e.Delay, e.Attempt)
}

func (e StopTimedOut) String() string {
	return fmt.Sprintf("child %s did not stop within %v and was left behind", e.ChildPath, e.Timeout)
}

func (e GaveUp) String() string {
	return fmt.Sprintf("supervisor %s gave up after more than %d restarts within %v: %v", e.ChildPath, e.MaxRestarts, e.Period, e.Err)
}

func (e AutoShutdownStarted) String() string {
	return fmt.Sprintf("supervisor %s shutting down (%v) because %s ended", e.ChildPath, e.Mode, e.Trigger)
}

func (e EventsDropped) String() string {
	return fmt.Sprintf("supervisor %s dropped %d events because a hook was slow", e.ChildPath, e.Count)
}
