package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// The property tests run pipelines whose every stage fails at random, and
// check that each message the source handed over was settled exactly once,
// and acked only if each of its parts was written or filtered out. Set
// STAGE_SEED to run one seed again; a failing subtest is named after its
// seed.

func propertySeeds(t *testing.T, n int) []uint64 {
	if s := os.Getenv("STAGE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STAGE_SEED=%q: %v", s, err)
		}
		return []uint64{seed}
	}
	if testing.Short() {
		n /= 5
	}
	base := uint64(time.Now().UnixNano())
	t.Logf("seeds %d to %d (set STAGE_SEED to repeat one)", base, base+uint64(n)-1)
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

// chance returns a number in [0, 1) fixed by its arguments, so that the
// stages decide their failures without sharing a random source.
func chance(seed uint64, tag, a, b int) float64 {
	return rand.New(rand.NewPCG(seed^uint64(tag)<<56, uint64(a)<<32|uint64(b))).Float64()
}

// item is a value in the property pipelines: a message's id and the index
// of the part FlatMap made of it.
type item struct{ id, part int }

// world records what the stages of a property pipeline did.
type world struct {
	seed uint64

	mu       sync.Mutex
	attempts map[int]int // calls of the map function, by id
	parts    map[int]int // parts FlatMap made, by id
	written  map[item]bool
	filtered map[item]bool
	calls    int // write calls
}

func newWorld(seed uint64) *world {
	return &world{seed: seed, attempts: map[int]int{}, parts: map[int]int{}, written: map[item]bool{}, filtered: map[item]bool{}}
}

func (w *world) decode(_ context.Context, id int) (item, error) {
	w.mu.Lock()
	attempt := w.attempts[id]
	w.attempts[id]++
	w.mu.Unlock()

	r := chance(w.seed, 1, id, attempt)
	switch {
	case r < 0.04:
		return item{}, errors.New("undecodable")
	case r < 0.07:
		return item{}, Redeliver(time.Second, errors.New("lookup failed"))
	case r < 0.09 && attempt == 0:
		return item{}, Fatal(errors.New("decoder lost its schema registry"))
	case r < 0.10 && attempt == 0:
		panic("decoder bug")
	}
	return item{id: id}, nil
}

func (w *world) split(_ context.Context, v item) ([]item, error) {
	r := chance(w.seed, 2, v.id, 0)
	if r < 0.01 {
		panic("splitter bug")
	}
	n := int(r * 4) // 0 to 3 parts
	out := make([]item, n)
	for i := range out {
		out[i] = item{id: v.id, part: i}
	}
	w.mu.Lock()
	w.parts[v.id] = n
	w.mu.Unlock()
	return out, nil
}

func (w *world) keep(v item) bool {
	if chance(w.seed, 3, v.id, v.part) < 0.2 {
		w.mu.Lock()
		w.filtered[v] = true
		w.mu.Unlock()
		return false
	}
	return true
}

// write fails at random; block, when set, is called for calls that should
// hang instead.
func (w *world) write(ctx context.Context, batch []Msg[item], block func(ctx context.Context, call int) bool) error {
	w.mu.Lock()
	w.calls++
	call := w.calls
	w.mu.Unlock()
	if block != nil && block(ctx, call) {
		return ctx.Err()
	}

	rng := rand.New(rand.NewPCG(w.seed, uint64(call)))
	r := rng.Float64()
	var failed map[int]bool
	var err error
	switch {
	case r < 0.55:
	case r < 0.75:
		be := &BatchError{}
		failed = map[int]bool{}
		for i := range batch {
			if rng.Float64() < 0.3 {
				var ferr error
				switch rng.IntN(3) {
				case 0:
					ferr = Permanent(errors.New("rejected"))
				case 1:
					ferr = Redeliver(time.Second, errors.New("throttled"))
				default:
					ferr = errors.New("conflict")
				}
				be.Failed = append(be.Failed, Failure{Index: i, Err: ferr})
				failed[i] = true
			}
		}
		err = be
	case r < 0.85:
		return errors.New("timeout")
	case r < 0.90:
		return Permanent(errors.New("bad batch"))
	case r < 0.94:
		return Redeliver(time.Second, errors.New("target busy"))
	case r < 0.98:
		return Fatal(errors.New("connection reset"))
	default:
		panic("writer bug")
	}

	w.mu.Lock()
	for i, m := range batch {
		if !failed[i] {
			w.written[m.Value] = true
		}
	}
	w.mu.Unlock()
	return err
}

// check fails t unless every message below handed was settled once, none
// above, and every acked message had all its parts written or filtered.
func (w *world) check(t *testing.T, rec *recorder, n, handed int) {
	t.Helper()
	got := rec.exactlyOnce(t, handed)
	for id := handed; id < n; id++ {
		if calls := rec.of(id); len(calls) > 0 {
			t.Errorf("message %d was never handed over but settled %v", id, calls)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, s := range got {
		if s.kind != "ack" {
			continue
		}
		parts, split := w.parts[id]
		if !split {
			t.Errorf("message %d acked but never reached FlatMap", id)
			continue
		}
		for p := range parts {
			it := item{id, p}
			if !w.written[it] && !w.filtered[it] {
				t.Errorf("message %d acked but its part %d was neither written nor filtered", id, p)
			}
		}
	}
}

// propertyPipeline builds the pipeline of one seed: decode, split, filter,
// batch and write, all of which fail at random, with random limits.
func propertyPipeline(rng *rand.Rand, w *world, clk clock.Clock, src Source[int], block func(context.Context, int) bool, retry RetryPolicy) *Pipeline {
	opts := Options{
		ChunkSize:       1 + rng.IntN(16),
		ChannelCapacity: 1 + rng.IntN(4),
		MaxInFlight:     1 + rng.IntN(64),
		DrainTimeout:    10 * time.Second,
		Clock:           clk,
		Logger:          slog.New(slog.DiscardHandler),
		Supervisor: []supervisor.Option{
			supervisor.WithBackoff(supervisor.Backoff{Initial: -1}),
			supervisor.WithIntensity(1000, time.Hour),
		},
	}
	if rng.IntN(2) == 0 {
		opts.MaxInFlightBytes = int64(50 + rng.IntN(500))
	}
	batch := BatchOptions{MaxCount: 1 + rng.IntN(20), MaxWait: time.Hour}
	if rng.IntN(2) == 0 {
		batch.MaxBytes = 100 + rng.IntN(400)
	}

	p := New("prop", opts)
	decoded := Then(From(p, "source", src), "decode", Map(w.decode))
	parts := Then(decoded, "split", FlatMap(w.split))
	kept := Then(parts, "filter", Filter(w.keep))
	Write(Batch(kept, "batch", batch), "write", WriterFunc[item](func(ctx context.Context, b []Msg[item]) error {
		return w.write(ctx, b, block)
	}), WriteOptions{Retry: retry})
	return p
}

// randomSource hands over the n messages in random chunks, and calls stop
// once it has handed over stopAt of them (never when stopAt >= n).
type randomSource struct {
	rng     *rand.Rand
	msgs    []Msg[int]
	handed  int
	stopAt  int
	stop    func()
	stopped chan struct{} // closed when stop was called
	once    sync.Once
}

// drainStarted returns a channel closed once s has stopped the pipeline.
func drainStarted(s *randomSource) <-chan struct{} { return s.stopped }

func (s *randomSource) Receive(ctx context.Context, buf []Msg[int]) (int, error) {
	if s.handed >= s.stopAt && s.stopAt < len(s.msgs) {
		s.once.Do(func() {
			s.stop()
			close(s.stopped)
		})
		<-ctx.Done()
		return 0, ctx.Err()
	}
	if s.handed == len(s.msgs) {
		return 0, io.EOF
	}
	k := min(1+s.rng.IntN(len(buf)), len(s.msgs)-s.handed, max(s.stopAt-s.handed, 1))
	copy(buf, s.msgs[s.handed:s.handed+k])
	s.handed += k
	return k, nil
}

func TestEveryMessageSettledExactlyOnce(t *testing.T) {
	for _, seed := range propertySeeds(t, 200) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			rec := newRecorder()
			w := newWorld(seed)
			n := 1 + rng.IntN(300)
			stopAt := n
			if rng.IntN(2) == 0 {
				stopAt = rng.IntN(n)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &randomSource{rng: rand.New(rand.NewPCG(seed, 1)), msgs: rec.msgs(n, 1+rng.IntN(100)), stopAt: stopAt, stop: cancel, stopped: make(chan struct{})}
			p := propertyPipeline(rng, w, clock.NewFake(time.Time{}), src, nil, RetryPolicy{MaxAttempts: 1 + rng.IntN(4), Initial: -1})

			if err := wait(t, runAsync(ctx, p)); err != nil {
				t.Fatalf("seed %d: Run: %v", seed, err)
			}
			w.check(t, rec, n, src.handed)
			if st := p.Stats(); st.Duplicates != 0 || st.InFlight != 0 || st.InFlightBytes != 0 {
				t.Errorf("seed %d: stats = %+v, want no duplicates and nothing in flight", seed, st)
			}
		})
	}
}

func TestForcedDrainSettlesEveryMessageOnce(t *testing.T) {
	for _, seed := range propertySeeds(t, 100) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			rec := newRecorder()
			w := newWorld(seed)
			n := 1 + rng.IntN(200)
			clk := clock.NewFake(time.Time{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Some seeds call Force: before the drain begins, or from
			// another goroutine as it begins.
			var p *Pipeline
			stop := cancel
			switch rand.New(rand.NewPCG(seed, 2)).IntN(3) {
			case 1:
				stop = func() { p.Force(); cancel() }
			case 2:
				stop = func() { cancel(); go p.Force() }
			}
			src := &randomSource{rng: rand.New(rand.NewPCG(seed, 1)), msgs: rec.msgs(n, 1+rng.IntN(100)), stopAt: rng.IntN(n + 1), stop: stop, stopped: make(chan struct{})}

			// Some writes hang until their attempt times out or the drain
			// is forced. In some seeds, one write that starts after the
			// drain began ignores its context and hangs until the test
			// releases it, after Run returned.
			release := make(chan struct{})
			ignoresContext := rng.IntN(3) == 0
			var once sync.Once
			block := func(ctx context.Context, call int) bool {
				if chance(seed, 5, call, 0) >= 0.3 {
					return false
				}
				stuck := false
				if ignoresContext && ctx.Err() == nil && isDone(drainStarted(src)) {
					once.Do(func() { stuck = true })
				}
				if stuck {
					<-release
				} else {
					<-ctx.Done()
				}
				return true
			}
			retry := RetryPolicy{MaxAttempts: -1, Initial: time.Second, AttemptTimeout: 5 * time.Second}
			p = propertyPipeline(rng, w, clk, src, block, retry)

			stopClock := driveClock(clk)
			err := wait(t, runAsync(ctx, p))
			stopClock()
			close(release)
			var derr *DrainError
			if err != nil && !errors.As(err, &derr) {
				t.Fatalf("seed %d: Run = %v, want nil or a *DrainError", seed, err)
			}
			for _, s := range p.stages {
				waitReturned(t, p, s.base().name)
			}

			w.check(t, rec, n, src.handed)
			if st := p.Stats(); st.InFlight != 0 || st.InFlightBytes != 0 {
				t.Errorf("seed %d: stats = %+v, want nothing in flight", seed, st)
			}
		})
	}
}
