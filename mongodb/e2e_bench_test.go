package mongodb_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

var e2eBenchDocs = flag.Int("e2e.docs", 100_000, "documents that BenchmarkEndToEndVsInsertMany writes in each round")

// e2eBenchBatch is the sink's BATCH_SIZE, the broker's window and the
// size of each InsertMany.
const e2eBenchBatch = 1000

// BenchmarkEndToEndVsInsertMany compares, side by side in one run and on
// one server, the whole sink with the plainest way to store the same
// documents. In each round it measures:
//
//   - sink: the sink runtime with the MongoDB connector consumes a backlog
//     of e2e.docs messages from the in-process broker, with a window of
//     1000 and BATCH_SIZE 1000, timed from its start until every message
//     is written. The messages are accounts.ejson repeated, each with an
//     _id of its own;
//   - insertmany: an unordered InsertMany loop, batches of 1000, into a
//     new collection. The metadata variant inserts the documents exactly
//     as the sink stored them, metadata included. The no_metadata variant
//     runs the sink without metadata and inserts the raw documents that
//     the Go driver reads from the sample lines.
//
// The metrics are the rates of both and their ratio (the sink's rate over
// insertmany's); the peak of the live heap while each ran, less the live
// heap before it, which shows the sink's memory bounded by its in-flight
// limits whatever e2e.docs is (the heap before includes the broker's copy
// of every message); the share of the sink's time spent in the
// connector's Write and the documents per Write; and the CPU time per
// document of this process (which runs the broker too) and of the MongoDB
// server, where /proc shows them.
//
//	go test -run '^$' -bench EndToEndVsInsertMany -benchtime 1x ./mongodb/
//	go test -run '^$' -bench EndToEndVsInsertMany -benchtime 1x ./mongodb/ -args -e2e.docs=20000
func BenchmarkEndToEndVsInsertMany(b *testing.B) {
	payloads := uniquePayloads(b, testdata.Lines(b, "accounts.ejson"), *e2eBenchDocs)
	uri := mongotest.URI(b)
	client := mongotest.Connect(b, uri)

	for _, v := range []struct {
		name string
		cfg  mongodb.Config
		raw  bool // insert the raw documents rather than those the sink stored
	}{
		{"metadata", mongodb.Config{}, false},
		{"no_metadata", mongodb.Config{OmitMetadata: true}, true},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.StopTimer() // each phase times itself
			db := client.Database(mongotest.DatabaseName(b))
			defer db.Drop(context.Background())

			var sinkPhases, insertPhases phase
			for round := range b.N {
				coll := fmt.Sprintf("sink_%d", round)
				sinkPhases.add(benchSinkRound(b, uri, db.Name(), coll, v.cfg, payloads))

				docs := readAll(b, db.Collection(coll))
				if len(docs) != len(payloads) {
					b.Fatalf("the sink stored %d documents, want %d", len(docs), len(payloads))
				}
				if v.raw {
					docs = rawDocuments(b, payloads)
				}
				if err := db.Collection(coll).Drop(context.Background()); err != nil {
					b.Fatal(err)
				}
				coll = fmt.Sprintf("insert_%d", round)
				insertPhases.add(benchInsertMany(b, db.Collection(coll), docs))
				if err := db.Collection(coll).Drop(context.Background()); err != nil {
					b.Fatal(err)
				}
			}

			docs := float64(b.N * len(payloads))
			sinkRate, insertRate := docs/sinkPhases.elapsed.Seconds(), docs/insertPhases.elapsed.Seconds()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(sinkRate, "sink_docs/s")
			b.ReportMetric(insertRate, "insertmany_docs/s")
			b.ReportMetric(sinkRate/insertRate, "sink/insertmany")
			b.ReportMetric(float64(sinkPhases.heap)/(1<<20), "sink_peak_heap_MiB")
			b.ReportMetric(float64(insertPhases.heap)/(1<<20), "insertmany_peak_heap_MiB")
			b.ReportMetric(float64(sinkPhases.inFlight), "sink_peak_in_flight")
			b.ReportMetric(float64(sinkPhases.inFlightBytes)/(1<<20), "sink_peak_in_flight_MiB")
			b.ReportMetric(100*sinkPhases.writing.Seconds()/sinkPhases.elapsed.Seconds(), "sink_write_busy_%")
			b.ReportMetric(docs/float64(sinkPhases.writes), "sink_docs/write")
			b.ReportMetric(float64(sinkPhases.cpu.Microseconds())/docs, "sink_cpu_us/doc")
			b.ReportMetric(float64(insertPhases.cpu.Microseconds())/docs, "insertmany_cpu_us/doc")
			b.ReportMetric(float64(sinkPhases.server.Microseconds())/docs, "sink_server_cpu_us/doc")
			b.ReportMetric(float64(insertPhases.server.Microseconds())/docs, "insertmany_server_cpu_us/doc")
		})
	}
}

// phase holds the figures of the sink, or of InsertMany, in one round or
// summed over rounds.
type phase struct {
	elapsed time.Duration // from the start to the last write
	heap    uint64        // peak growth of the live heap
	writes  int           // calls of the connector's Write
	writing time.Duration // spent in them
	cpu     time.Duration // used by this process, the broker's share included
	server  time.Duration // used by the MongoDB server

	inFlight, inFlightBytes int64 // peaks of the sink's records between receive and ack
}

// add adds the figures of r: times and counts are summed, and of the
// peaks the larger is kept.
func (s *phase) add(r phase) {
	s.elapsed += r.elapsed
	s.heap = max(s.heap, r.heap)
	s.writes += r.writes
	s.writing += r.writing
	s.cpu += r.cpu
	s.server += r.server
	s.inFlight = max(s.inFlight, r.inFlight)
	s.inFlightBytes = max(s.inFlightBytes, r.inFlightBytes)
}

// benchSinkRound publishes payloads to a new broker while the sink's
// subscription has no consumer, then times the sink runtime from its
// start until it has written every one into coll.
func benchSinkRound(b *testing.B, uri, database, coll string, mcfg mongodb.Config, payloads [][]byte) phase {
	b.Helper()
	ctx := context.Background()

	broker, err := danubetest.New(danubetest.WithWindow(e2eBenchBatch))
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	if err := broker.CreateTopic(e2eTopic, true); err != nil {
		b.Fatal(err)
	}
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()

	// Create the subscription, then leave it without a consumer while the
	// backlog is published, so that the timed part is the sink alone.
	first, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: e2eTopic, Subscription: e2eConnector, Name: e2eConnector, Type: danube.Exclusive})
	if err != nil {
		b.Fatal(err)
	}
	_ = first.Close()
	publishTo(b, broker.URL(), e2eTopic, payloads)

	mcfg.ConnectionString, mcfg.Database, mcfg.Collection = uri, database, coll
	conn, err := mongodb.New(mcfg)
	if err != nil {
		b.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = e2eConnector
	cfg.DanubeTopic = []string{e2eTopic}
	cfg.BatchSize = e2eBenchBatch
	counter := &distinctWrites{Connector: conn, written: make([]bool, len(payloads)), done: make(chan struct{})}
	rt, err := sink.New(counter, cfg, sink.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Client: client})
	if err != nil {
		b.Fatal(err)
	}

	heap := startHeapSampler()
	inFlight := startInFlightSampler(rt)
	cpuBefore, serverBefore := cpuTimes()
	b.StartTimer()
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()

	select {
	case <-counter.done:
	case err := <-done:
		b.Fatalf("the sink stopped early: %v", err)
	case <-time.After(10 * time.Minute):
		b.Fatalf("the sink wrote %d of %d documents in 10 minutes", counter.count(), len(payloads))
	}
	round := phase{elapsed: time.Since(start)}
	b.StopTimer()
	cpuAfter, serverAfter := cpuTimes()
	round.cpu, round.server = cpuAfter-cpuBefore, serverAfter-serverBefore
	round.heap = heap.stop()
	round.inFlight, round.inFlightBytes = inFlight.stop()
	round.writes, round.writing = counter.busy()

	stop()
	if err := <-done; err != nil {
		b.Fatalf("sink Run: %v", err)
	}
	// The broker may deliver a message twice, when the subscription's
	// consumer changes; the deterministic ids keep it one document.
	if st := rt.Stats()[0]; st.Acked < uint64(len(payloads)) || st.Nacked != 0 || st.DeadLettered != 0 {
		b.Fatalf("the sink acked %d, nacked %d and dead-lettered %d records, want %d, 0, 0", st.Acked, st.Nacked, st.DeadLettered, len(payloads))
	}
	return round
}

// benchInsertMany times an unordered InsertMany loop of docs into coll,
// in batches of e2eBenchBatch.
func benchInsertMany(b *testing.B, coll *mongo.Collection, docs []any) phase {
	b.Helper()
	ctx := context.Background()
	heap := startHeapSampler()
	cpuBefore, serverBefore := cpuTimes()
	b.StartTimer()
	start := time.Now()
	for i := 0; i < len(docs); i += e2eBenchBatch {
		batch := docs[i:min(i+e2eBenchBatch, len(docs))]
		if _, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false)); err != nil {
			b.Fatalf("InsertMany: %v", err)
		}
	}
	round := phase{elapsed: time.Since(start), writes: (len(docs) + e2eBenchBatch - 1) / e2eBenchBatch}
	b.StopTimer()
	cpuAfter, serverAfter := cpuTimes()
	round.cpu, round.server = cpuAfter-cpuBefore, serverAfter-serverBefore
	round.heap = heap.stop()
	return round
}

// readAll returns every document of coll, as stored.
func readAll(b *testing.B, coll *mongo.Collection) []any {
	b.Helper()
	ctx := context.Background()
	cursor, err := coll.Find(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	defer cursor.Close(ctx)
	var docs []any
	for cursor.Next(ctx) {
		docs = append(docs, bson.Raw(bytes.Clone(cursor.Current)))
	}
	if err := cursor.Err(); err != nil {
		b.Fatal(err)
	}
	return docs
}

// rawDocuments returns the documents that the Go driver reads from the
// payloads.
func rawDocuments(b *testing.B, payloads [][]byte) []any {
	b.Helper()
	docs := make([]any, len(payloads))
	for i, p := range payloads {
		var doc bson.Raw
		if err := bson.UnmarshalExtJSON(p, false, &doc); err != nil {
			b.Fatalf("payload %d: %v", i, err)
		}
		docs[i] = doc
	}
	return docs
}

// uniquePayloads returns n payloads from lines, repeated as needed, each
// with a new ObjectId in place of its own so that no two _id collide.
func uniquePayloads(b *testing.B, lines [][]byte, n int) [][]byte {
	b.Helper()
	const oid = `{"$oid":"`
	payloads := make([][]byte, 0, n)
	for len(payloads) < n {
		for _, line := range lines {
			i := bytes.Index(line, []byte(oid))
			if i < 0 {
				b.Fatalf("sample line without an ObjectId: %.80s", line)
			}
			if len(payloads) == n {
				break
			}
			p := bytes.Clone(line)
			copy(p[i+len(oid):], bson.NewObjectID().Hex())
			payloads = append(payloads, p)
		}
	}
	return payloads
}

// heapSampler records the peak of the live heap, as the last garbage
// collection measured it, every millisecond until stop. The live heap
// rather than the heap in use, which grows with the garbage that the
// collector lets pile up in proportion to the live heap, here mostly the
// broker's copy of the backlog.
//
// NOTE: a collection also counts as live what was allocated while it ran,
// and it runs longer on a larger heap, so the peak still grows with the
// backlog: about 4 MiB over the base at 20,000 documents and 12 MiB at
// 100,000 (measured on a shared 2-core machine), while the records the
// sink holds stay at the broker's window.
type heapSampler struct {
	base uint64
	peak uint64
	quit chan struct{}
	wg   sync.WaitGroup
}

const heapLive = "/gc/heap/live:bytes"

// startHeapSampler collects garbage, takes the live heap then as the
// base, and starts sampling.
func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{quit: make(chan struct{})}
	sample := []metrics.Sample{{Name: heapLive}}
	metrics.Read(sample)
	h.base = sample[0].Value.Uint64()
	h.wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.quit:
				return
			case <-tick.C:
			}
		}
	})
	return h
}

// inFlightSampler records the peaks of the records that the sink's route
// holds between receiving and acknowledging them, and of their payload
// bytes, every millisecond until stop.
type inFlightSampler struct {
	records, bytes int64
	quit           chan struct{}
	wg             sync.WaitGroup
}

func startInFlightSampler(rt *sink.Runtime) *inFlightSampler {
	s := &inFlightSampler{quit: make(chan struct{})}
	s.wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			st := rt.Stats()[0]
			s.records = max(s.records, st.InFlight)
			s.bytes = max(s.bytes, st.InFlightBytes)
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
		}
	})
	return s
}

// stop ends the sampling and returns the peaks.
func (s *inFlightSampler) stop() (records, bytes int64) {
	close(s.quit)
	s.wg.Wait()
	return s.records, s.bytes
}

// stop ends the sampling and returns the peak less the base.
func (h *heapSampler) stop() uint64 {
	close(h.quit)
	h.wg.Wait()
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}

// distinctWrites wraps a connector and closes done once it has written
// the message at every offset below len(written), so that a message the
// broker delivers twice is counted once. Its memory is allocated up
// front, outside the heap that the benchmark measures.
type distinctWrites struct {
	sink.Connector
	done chan struct{}

	mu      sync.Mutex
	written []bool        // by offset
	n       int           // true entries of written
	writes  int           // calls of Write
	writing time.Duration // spent in Write
}

func (c *distinctWrites) Write(ctx context.Context, batch []*sink.Record) error {
	start := time.Now()
	err := c.Connector.Write(ctx, batch)
	elapsed := time.Since(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	c.writing += elapsed
	if err != nil {
		return err
	}
	for _, r := range batch {
		if r.Offset < uint64(len(c.written)) && !c.written[r.Offset] {
			c.written[r.Offset] = true
			c.n++
		}
	}
	if c.n == len(c.written) {
		close(c.done)
	}
	return nil
}

// busy returns the calls of Write and the time spent in them.
func (c *distinctWrites) busy() (int, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.writing
}

func (c *distinctWrites) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// cpuTimes returns the CPU time used so far by this process and by the
// embedded MongoDB server, when it is a child of this process, read from
// /proc. Both are 0 where /proc is not available.
func cpuTimes() (self, server time.Duration) {
	self = procCPU("self")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return self, 0
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil || !bytes.Contains(stat, []byte("(ferret-server)")) {
			continue
		}
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		if len(fields) > 1 && fields[1] == me {
			server += procCPU(e.Name())
		}
	}
	return self, server
}

// procCPU returns the user and system CPU time of process pid ("self"
// for this one) from /proc/pid/stat, counted in clock ticks of 10 ms,
// because USER_HZ is 100 on Linux.
func procCPU(pid string) time.Duration {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
