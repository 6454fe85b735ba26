package baseline

import (
	"fmt"
	"time"
)

type chainMsg struct {
	id      uint64
	payload []byte
}

// Chain returns the messages per second that five goroutines joined by
// buffered channels of capacity 1024 pass along, one pointer per message,
// for n messages. The first goroutine makes the messages and the last drops
// them. It fails if a message went missing.
func Chain(n int) (float64, error) {
	const capacity = 1024
	payload := make([]byte, 64)
	c1, c2, c3, c4 := make(chan *chainMsg, capacity), make(chan *chainMsg, capacity), make(chan *chainMsg, capacity), make(chan *chainMsg, capacity)
	done := make(chan int)

	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			c1 <- &chainMsg{id: uint64(i), payload: payload}
		}
		close(c1)
	}()
	relay := func(in <-chan *chainMsg, out chan<- *chainMsg) {
		for m := range in {
			out <- m
		}
		close(out)
	}
	go relay(c1, c2)
	go relay(c2, c3)
	go relay(c3, c4)
	go func() {
		count := 0
		for range c4 {
			count++
		}
		done <- count
	}()
	got := <-done
	rate := float64(n) / time.Since(start).Seconds()
	if got != n {
		return 0, fmt.Errorf("chain delivered %d of %d messages", got, n)
	}
	return rate, nil
}

// ChainBatched is Chain with batches of batchSize messages passed along in
// place of single pointers, over channels of capacity 16.
func ChainBatched(n, batchSize int) (float64, error) {
	const capacity = 16
	payload := make([]byte, 64)
	c1, c2, c3, c4 := make(chan []*chainMsg, capacity), make(chan []*chainMsg, capacity), make(chan []*chainMsg, capacity), make(chan []*chainMsg, capacity)
	done := make(chan int)

	start := time.Now()
	go func() {
		batch := make([]*chainMsg, 0, batchSize)
		for i := 0; i < n; i++ {
			batch = append(batch, &chainMsg{id: uint64(i), payload: payload})
			if len(batch) == batchSize {
				c1 <- batch
				batch = make([]*chainMsg, 0, batchSize)
			}
		}
		if len(batch) > 0 {
			c1 <- batch
		}
		close(c1)
	}()
	relay := func(in <-chan []*chainMsg, out chan<- []*chainMsg) {
		for b := range in {
			out <- b
		}
		close(out)
	}
	go relay(c1, c2)
	go relay(c2, c3)
	go relay(c3, c4)
	go func() {
		count := 0
		for b := range c4 {
			count += len(b)
		}
		done <- count
	}()
	got := <-done
	rate := float64(n) / time.Since(start).Seconds()
	if got != n {
		return 0, fmt.Errorf("chain delivered %d of %d messages", got, n)
	}
	return rate, nil
}
