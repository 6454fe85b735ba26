package stage

import "testing"

func TestRecycleDropsOversizedChunk(t *testing.T) {
	pool := newChunkPool[int](4, 2)

	grown := pool.get()
	for i := range 100 {
		grown.msgs = append(grown.msgs, Msg[int]{Value: i})
	}
	grown.recycle()
	if c := pool.get(); cap(c.msgs) != 4 {
		t.Errorf("chunk from the pool has capacity %d, want a new one of 4: the grown chunk was kept", cap(c.msgs))
	}

	kept := pool.get()
	kept.msgs = append(kept.msgs, Msg[int]{Value: 1})
	kept.recycle()
	if c := pool.get(); c != kept || len(c.msgs) != 0 {
		t.Errorf("pool returned %p with %d messages, want the recycled chunk %p, emptied", c, len(c.msgs), kept)
	}
}
