package main

import (
	"fmt"
	"time"
)

// handMsg is the message of the hand-written chains.
type handMsg struct{ v int }

// handChain runs n messages through five goroutines joined by buffered
// channels: the measured pipeline's shape, written by hand. They are a
// source making one message at a time, a map, a filter, a batcher of 1000
// and a writer that does nothing. Single messages pass between the first
// four, and batches from the batcher on. It returns the elapsed time.
func handChain(n int) (time.Duration, error) {
	const capacity, size = 1024, 1000
	mapped, kept := make(chan *handMsg, capacity), make(chan *handMsg, capacity)
	made := make(chan *handMsg, capacity)
	batches := make(chan []*handMsg, 16)
	done := make(chan int)

	start := time.Now()
	go func() {
		for i := range n {
			made <- &handMsg{v: i}
		}
		close(made)
	}()
	go func() {
		for m := range made {
			m.v++
			mapped <- m
		}
		close(mapped)
	}()
	go func() {
		for m := range mapped {
			if m.v >= 0 {
				kept <- m
			}
		}
		close(kept)
	}()
	go func() {
		batch := make([]*handMsg, 0, size)
		for m := range kept {
			batch = append(batch, m)
			if len(batch) == size {
				batches <- batch
				batch = make([]*handMsg, 0, size)
			}
		}
		if len(batch) > 0 {
			batches <- batch
		}
		close(batches)
	}()
	go func() {
		written := 0
		for b := range batches {
			written += len(b)
		}
		done <- written
	}()

	written := <-done
	elapsed := time.Since(start)
	if written != n {
		return 0, fmt.Errorf("hand chain wrote %d of %d messages", written, n)
	}
	return elapsed, nil
}

// handChainBatched is handChain passing batches of 1000 between all five
// goroutines: the map and the filter work on whole batches.
func handChainBatched(n int) (time.Duration, error) {
	const capacity, size = 16, 1000
	made, mapped := make(chan []*handMsg, capacity), make(chan []*handMsg, capacity)
	kept, batches := make(chan []*handMsg, capacity), make(chan []*handMsg, capacity)
	done := make(chan int)

	start := time.Now()
	go func() {
		batch := make([]*handMsg, 0, size)
		for i := range n {
			batch = append(batch, &handMsg{v: i})
			if len(batch) == size {
				made <- batch
				batch = make([]*handMsg, 0, size)
			}
		}
		if len(batch) > 0 {
			made <- batch
		}
		close(made)
	}()
	go func() {
		for b := range made {
			for _, m := range b {
				m.v++
			}
			mapped <- b
		}
		close(mapped)
	}()
	go func() {
		for b := range mapped {
			out := b[:0]
			for _, m := range b {
				if m.v >= 0 {
					out = append(out, m)
				}
			}
			kept <- out
		}
		close(kept)
	}()
	go func() {
		// The batcher has nothing to do: the batches are full already.
		for b := range kept {
			batches <- b
		}
		close(batches)
	}()
	go func() {
		written := 0
		for b := range batches {
			written += len(b)
		}
		done <- written
	}()

	written := <-done
	elapsed := time.Since(start)
	if written != n {
		return 0, fmt.Errorf("batched hand chain wrote %d of %d messages", written, n)
	}
	return elapsed, nil
}
