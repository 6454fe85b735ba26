package soak

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-messaging/danube-connect-go/source"
)

// generatorBatch is the most records one Poll hands out.
const generatorBatch = 256

// generator is a source connector in poll mode that hands out the records
// of a dataset in order, paced so that they spread over a given time. Its
// checkpoint is the sequence number of the next record, so a Run resumes
// after the last record the broker acknowledged with all before it.
type generator struct {
	data *dataset
	// perSecond is the pace; records due by now are handed out at once.
	perSecond float64

	mu    sync.Mutex
	start time.Time // the pacing's origin, the first Open
	next  int

	committed atomic.Int64 // the last committed checkpoint
	opens     atomic.Int64 // how many times Open was called
}

// newGenerator returns a generator that hands out data over spread.
func newGenerator(data *dataset, spread time.Duration) *generator {
	return &generator{data: data, perSecond: float64(len(data.items)) / spread.Seconds()}
}

// Open resumes at cp, the sequence number of the next record.
func (g *generator) Open(_ context.Context, cp source.Checkpoint) error {
	g.mu.Lock()
	defer g.mu.Unlock()

	g.opens.Add(1)
	if g.start.IsZero() {
		g.start = time.Now()
	}
	g.next = 0
	if cp != nil {
		n, err := strconv.Atoi(string(cp))
		if err != nil || n < 0 || n > len(g.data.items) {
			return source.Fatal(fmt.Errorf("invalid checkpoint %q: want a record number from 0 to %d", cp, len(g.data.items)))
		}
		g.next = n
	}
	return nil
}

// Poll hands out the records due by now, at most generatorBatch, and
// io.EOF after the last one.
func (g *generator) Poll(context.Context) ([]source.Record, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	total := len(g.data.items)
	if g.next >= total {
		return nil, io.EOF
	}
	due := min(int(g.perSecond*time.Since(g.start).Seconds())+1, total)
	n := min(due-g.next, generatorBatch)
	if n <= 0 {
		return nil, nil
	}

	out := make([]source.Record, n)
	for i := range out {
		it := &g.data.items[g.next+i]
		out[i] = source.Record{
			Payload:    it.payload,
			Attributes: map[string]string{attrSeq: strconv.Itoa(it.seq)},
			Position:   source.Checkpoint(strconv.Itoa(it.seq + 1)),
		}
	}
	g.next += n
	return out, nil
}

// Commit records the checkpoint; the dataset lives in memory, so nothing
// needs to be persisted beyond the test process.
func (g *generator) Commit(_ context.Context, cp source.Checkpoint) error {
	n, err := strconv.Atoi(string(cp))
	if err != nil {
		return source.Fatal(fmt.Errorf("invalid checkpoint %q to commit", cp))
	}
	g.committed.Store(int64(n))
	return nil
}

// Close does nothing: the generator holds no resource.
func (g *generator) Close(context.Context) error { return nil }

// Health always passes.
func (g *generator) Health(context.Context) error { return nil }

var _ source.Poller = (*generator)(nil)
