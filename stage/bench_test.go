package stage

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"
)

// The pipeline benchmark and the two hand-written chains below have the
// same shape: a source making small messages, a map, a filter, a batcher
// of 1,000 and a writer that does nothing. Compare their ns/op (one op is
// one message) in the same run: the machine's speed cancels out.

type nopSettler struct{}

func (nopSettler) Ack()                       {}
func (nopSettler) Nack(time.Duration, string) {}
func (nopSettler) DeadLetter(string)          {}

// genSource makes n messages carrying their index, each with its own
// tracker, as a broker source would.
type genSource struct{ next, n int }

func (s *genSource) Receive(_ context.Context, buf []Msg[int]) (int, error) {
	if s.next == s.n {
		return 0, io.EOF
	}
	k := min(len(buf), s.n-s.next)
	for i := range k {
		buf[i] = NewMsg(s.next+i, 8, nopSettler{})
	}
	s.next += k
	return k, nil
}

func BenchmarkPipeline(b *testing.B) {
	b.ReportAllocs()
	var batches, written int
	p := New("bench", benchOptions)
	src := From(p, "source", Source[int](&genSource{n: b.N}))
	mapped := Then(src, "map", Map(func(_ context.Context, v int) (int, error) { return v + 1, nil }))
	kept := Then(mapped, "filter", Filter(func(v int) bool { return v >= 0 }))
	Write(Batch(kept, "batch", BatchOptions{MaxCount: 1000}), "write", WriterFunc[int](func(_ context.Context, batch []Msg[int]) error {
		batches++
		written += len(batch)
		return nil
	}), WriteOptions{})

	// allocs/op is a whole number, so allocs/msg shows the fraction: the
	// objects Run allocated, its start and stop included, per message.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if written != b.N {
		b.Fatalf("wrote %d of %d messages", written, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(written)/float64(batches), "msgs/batch")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/msg")
}

type handMsg struct{ v int }

// BenchmarkHandChainPerMessage is five goroutines joined by buffered
// channels, passing one pointer per message until the batcher, which
// passes batches of 1,000 to a last goroutine that does nothing.
func BenchmarkHandChainPerMessage(b *testing.B) {
	b.ReportAllocs()
	const capacity = 1024
	c1, c2, c3 := make(chan *handMsg, capacity), make(chan *handMsg, capacity), make(chan *handMsg, capacity)
	c4 := make(chan []*handMsg, 16)
	done := make(chan int)

	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := range b.N {
			c1 <- &handMsg{v: i}
		}
		close(c1)
	}()
	go func() {
		for m := range c1 {
			m.v++
			c2 <- m
		}
		close(c2)
	}()
	go func() {
		for m := range c2 {
			if m.v >= 0 {
				c3 <- m
			}
		}
		close(c3)
	}()
	go func() {
		batch := make([]*handMsg, 0, 1000)
		for m := range c3 {
			batch = append(batch, m)
			if len(batch) == cap(batch) {
				c4 <- batch
				batch = make([]*handMsg, 0, 1000)
			}
		}
		if len(batch) > 0 {
			c4 <- batch
		}
		close(c4)
	}()
	go func() {
		n := 0
		for batch := range c4 {
			n += len(batch)
		}
		done <- n
	}()
	n := <-done
	elapsed := time.Since(start)
	b.StopTimer()
	if n != b.N {
		b.Fatalf("passed %d of %d messages", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkHandChainBatched is the same five goroutines passing batches of
// 1,000 pointers between all of them.
func BenchmarkHandChainBatched(b *testing.B) {
	b.ReportAllocs()
	const capacity, size = 16, 1000
	c1, c2, c3, c4 := make(chan []*handMsg, capacity), make(chan []*handMsg, capacity), make(chan []*handMsg, capacity), make(chan []*handMsg, capacity)
	done := make(chan int)

	b.ResetTimer()
	start := time.Now()
	go func() {
		batch := make([]*handMsg, 0, size)
		for i := range b.N {
			batch = append(batch, &handMsg{v: i})
			if len(batch) == size {
				c1 <- batch
				batch = make([]*handMsg, 0, size)
			}
		}
		if len(batch) > 0 {
			c1 <- batch
		}
		close(c1)
	}()
	go func() {
		for batch := range c1 {
			for _, m := range batch {
				m.v++
			}
			c2 <- batch
		}
		close(c2)
	}()
	go func() {
		for batch := range c2 {
			kept := batch[:0]
			for _, m := range batch {
				if m.v >= 0 {
					kept = append(kept, m)
				}
			}
			c3 <- kept
		}
		close(c3)
	}()
	go func() {
		for batch := range c3 {
			c4 <- batch
		}
		close(c4)
	}()
	go func() {
		n := 0
		for batch := range c4 {
			n += len(batch)
		}
		done <- n
	}()
	n := <-done
	elapsed := time.Since(start)
	b.StopTimer()
	if n != b.N {
		b.Fatalf("passed %d of %d messages", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

var benchOptions = Options{}
