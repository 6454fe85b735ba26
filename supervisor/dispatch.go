package supervisor

import (
	"sync"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// dispatcher delivers events to hooks without ever making the sender wait.
// Senders append to a bounded queue; a goroutine, started when the queue
// stops being empty and ended when it is empty again, calls the hooks. So
// no goroutine exists while nothing is to be delivered, events reach the
// hooks in the order sent, and hooks are never called concurrently.
type dispatcher struct {
	hooks []func(Event)
	limit int
	clock clock.Clock

	mu         sync.Mutex
	queue      []Event
	delivering bool
	path       string // the supervisor's path, for EventsDropped
	dropped    uint64 // total, for Supervisor.DroppedEvents
	unreported uint64 // dropped since the last EventsDropped
}

func newDispatcher(hooks []func(Event), limit int, clk clock.Clock) *dispatcher {
	return &dispatcher{hooks: hooks, limit: limit, clock: clk}
}

// setPath records the supervisor's path for the events the dispatcher
// makes itself; it changes when a supervisor runs under a new parent.
func (d *dispatcher) setPath(path string, clk clock.Clock) {
	d.mu.Lock()
	d.path, d.clock = path, clk
	d.mu.Unlock()
}

// send queues e, or drops and counts it when the queue is full.
func (d *dispatcher) send(e Event) {
	d.mu.Lock()
	defer d.mu.Unlock()

	if len(d.queue) >= d.limit {
		d.dropped++
		d.unreported++
		return
	}
	d.queue = append(d.queue, e)
	if !d.delivering {
		d.delivering = true
		go d.deliver()
	}
}

func (d *dispatcher) deliver() {
	for {
		e, ok := d.take()
		if !ok {
			return
		}
		for _, h := range d.hooks {
			callHook(h, e)
		}
	}
}

// take returns the next event to deliver, or false after marking the
// goroutine gone when there is none.
func (d *dispatcher) take() (Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()

	if len(d.queue) > 0 {
		e := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		if len(d.queue) == 0 {
			d.queue = nil // let the backing array go
		}
		return e, true
	}
	if d.unreported > 0 {
		e := EventsDropped{At: d.clock.Now(), ChildPath: d.path, Count: d.unreported}
		d.unreported = 0
		return e, true
	}
	d.delivering = false
	return nil, false
}

func (d *dispatcher) droppedTotal() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// callHook calls h and swallows its panic, so that one faulty hook neither
// kills the program nor stops the delivery to the others.
func callHook(h func(Event), e Event) {
	defer func() { _ = recover() }()
	h(e)
}
