package stage

// Stages pass messages to each other in chunks, slices of messages, rather
// than one message per channel send: a send between goroutines costs about
// as much as processing a hundred small messages, so moving chunks is what
// lets a pipeline approach the speed of a plain loop. Chunks are recycled
// through a free list per channel, so that a pipeline in its steady state
// allocates nothing for them.

// chunk is the unit that moves through a channel between two stages.
type chunk[T any] struct {
	msgs []Msg[T]

	// idle is set by the entry on the last chunk it sends before it has to
	// wait, for its source or for room under the in-flight limits. The
	// stages pass it on, and the batch stage flushes a partial batch on
	// it, so that a batch never waits for messages that cannot come.
	idle bool

	// verdicts, on the channel to the ack stage only, holds the settlement
	// of each message; nil means that every message is acked.
	verdicts []verdict

	pool *chunkPool[T] // where the chunk goes back to; nil for a one-off
}

// chunkPool is a bounded free list of chunks of one capacity.
type chunkPool[T any] struct {
	free     chan *chunk[T]
	capacity int
}

func newChunkPool[T any](capacity, keep int) *chunkPool[T] {
	return &chunkPool[T]{free: make(chan *chunk[T], keep), capacity: capacity}
}

// get returns an empty chunk, recycled if one is free.
func (p *chunkPool[T]) get() *chunk[T] {
	select {
	case c := <-p.free:
		return c
	default:
		return &chunk[T]{msgs: make([]Msg[T], 0, p.capacity), pool: p}
	}
}

// recycle empties c and returns it to its pool, or drops it when the pool
// is full or when c has grown past twice the pool's capacity, as the output
// of a FlatMap that split a message into many parts does, so that the pool
// does not keep one burst's memory for good. The caller must not use c
// afterwards.
func (c *chunk[T]) recycle() {
	if c == nil || c.pool == nil || cap(c.msgs) > 2*c.pool.capacity {
		return
	}
	clear(c.msgs) // drop the references, so that settled values can be freed
	c.msgs = c.msgs[:0]
	c.idle = false
	c.verdicts = nil
	select {
	case c.pool.free <- c:
	default:
	}
}

// edge is the channel between two stages, owned by the pipeline so that it
// outlives the restarts of both.
type edge[T any] struct {
	ch   chan *chunk[T]
	pool *chunkPool[T]
	link
}

// link names the two stages an edge joins.
type link struct {
	from  string // the stage that sends on the channel
	to    string // the stage that receives from it, "" until joined
	depth func() (length, capacity int)
}

func newEdge[T any](from string, capacity, chunkSize int) *edge[T] {
	e := &edge[T]{
		ch:   make(chan *chunk[T], capacity),
		pool: newChunkPool[T](chunkSize, capacity+4),
		link: link{from: from},
	}
	// Read the channel through e, so that a renewed one is seen.
	e.depth = func() (int, int) {
		ch := e.channel()
		return len(ch), cap(ch)
	}
	return e
}

// renew replaces the channel, closed by the previous run of the pipeline.
// The pipeline calls it, with its mutex held, only while no stage runs.
func (e *edge[T]) renew() { e.ch = make(chan *chunk[T], cap(e.ch)) }

// channel returns the channel for Queues, which holds the pipeline's
// mutex, so that renew cannot run meanwhile.
func (e *edge[T]) channel() chan *chunk[T] { return e.ch }

// drainEdge takes every chunk left in an edge's channel without waiting
// and settles its messages as do says; the pipeline calls it after a forced
// stop. It returns how many messages do settled.
func drainEdge[T any](e *edge[T], do func(c *chunk[T]) int) int {
	n := 0
	for {
		select {
		case c, ok := <-e.ch:
			if !ok {
				return n
			}
			n += do(c)
			c.recycle()
		default:
			return n
		}
	}
}
