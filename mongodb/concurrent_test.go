package mongodb

import (
	"fmt"
	"sync"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// TestConcurrentWritesAreSafe writes from several goroutines at once, as the
// runtime does for several routes, to collections of their own and to a
// shared one, while Health runs alongside.
func TestConcurrentWritesAreSafe(t *testing.T) {
	const writers, batches, batchSize = 4, 5, 40
	s, db := openSink(t, Config{
		Collection:  "shared",
		Collections: map[string]string{"/default/t0": "t0", "/default/t1": "t1"},
	})
	if !s.ConcurrentWrites() {
		t.Fatal("ConcurrentWrites = false")
	}

	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+batches)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("/default/t%d", w)
			for b := range batches {
				batch := make([]*sink.Record, batchSize)
				for i := range batch {
					offset := uint64(b*batchSize + i)
					batch[i] = newRecord(offset, fmt.Sprintf(`{"writer":%d,"n":%d}`, w, offset))
					batch[i].Topic, batch[i].PartitionTopic = topic, topic
				}
				if err := s.Write(ctx, batch); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range batches {
			if err := s.Health(ctx); err != nil {
				errs <- fmt.Errorf("health: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for coll, want := range map[string]int64{"t0": batches * batchSize, "t1": batches * batchSize, "shared": 2 * batches * batchSize} {
		if n := count(t, db.Collection(coll), nil); n != want {
			t.Errorf("collection %s holds %d documents, want %d", coll, n, want)
		}
	}
}
