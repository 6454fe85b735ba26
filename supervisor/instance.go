package supervisor

import (
	"context"

	"github.com/sourcegraph/conc/panics"
)

// runInstance runs one instance of a child in its own goroutine and
// reports its return to the loop. The report waits until the loop takes it
// or the run is over, so an instance left behind after its stop timed out
// ends as soon as its Run returns.
func (e *engine) runInstance(ctx context.Context, c *child, run Child, gen uint64) {
	var err error
	returned := false
	defer func() {
		if !returned {
			if e.cfg.passPanics {
				// Panicking again from this deferred call keeps the
				// panicking frames on the stack that the runtime prints.
				if v := recover(); v != nil {
					panic(v)
				}
			}
			// With panics recovered by Try, only runtime.Goexit gets here.
			err = errGoexit
		}
		x := exit{child: c, gen: gen, err: err, stopped: ctx.Err() != nil}
		select {
		case e.exits <- x:
		case <-e.done:
		}
	}()

	if e.cfg.passPanics {
		err = run.Run(ctx)
	} else if r := panics.Try(func() { err = run.Run(ctx) }); r != nil {
		err = &PanicError{Value: r.Value, Stack: r.Stack}
	}
	returned = true
}
