package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"github.com/danube-messaging/danube-connect-go/source"
)

// TestSoakLosesNothing publishes a dataset of valid and poison records
// through the source runtime and the broker into the MongoDB sink, a
// separate process, while faults hit every part of the path. Then it
// checks that every valid record is in MongoDB exactly once, every poison
// record is in the dead-letter topic, and nothing else is anywhere. The
// package documentation lists the faults and the forms.
func TestSoakLosesNothing(t *testing.T) {
	if mongotest.Real() {
		testdata.SkipOrFail(t, "the soak stops and restarts its own MongoDB server, which it cannot do with the server named by %s; unset it", mongotest.EnvURI)
	}
	p := soakParams(t)
	t.Logf("soak %s form, seed %d: %d messages, %d faults; replay with: %s", p.form(), p.seed, p.messages, p.faults, p.replayCommand())

	leakBaseline := goleak.IgnoreCurrent()
	goroutinesBefore := runtime.NumGoroutine()

	rng := rand.New(rand.NewPCG(p.seed, p.seed^0x5eed5eed5eed5eed))
	data := buildDataset(t, p, rng)
	faults := schedule(rng, p.faults, p.gapMin, p.gapMax)
	var plan []string
	for _, f := range faults {
		plan = append(plan, f.kind.String())
	}
	t.Logf("fault schedule: %s", strings.Join(plan, ", "))

	h := newHarness(t, p)
	var stats runStats
	runErr := h.run(data, faults, &stats)

	obs, collectErr := h.collect()
	if runErr == nil {
		runErr = collectErr
	}

	h.shutdown()
	stats.incomplete = runErr != nil
	stats.wall = time.Since(h.start)
	stats.findings = h.findings
	stats.exits = h.exits
	stats.incarnations = h.incarnation
	stats.sinkEvents = h.events.snapshot()
	stats.slow = h.events.slowSnapshot()
	stats.peakSinkHeap, stats.peakSinkRSS = h.peakSinkHeap.Load(), h.peakSinkRSS.Load()
	stats.peakTestHeap, stats.scrapeErrors = h.peakTestHeap.Load(), h.scrapeErrors.Load()

	leakErr := goleak.Find(leakBaseline)
	if leakErr != nil {
		stats.goroutinesLeft = max(1, runtime.NumGoroutine()-goroutinesBefore)
	}

	v := &verdict{reasons: map[string]int{}}
	if obs != nil {
		v = verify(data, obs)
	}
	var table bytes.Buffer
	writeReport(&table, p, v, stats)
	t.Logf("soak report:\n%s", table.String())
	if p.report != "" {
		if err := os.WriteFile(p.report, table.Bytes(), 0o644); err != nil {
			t.Errorf("write the report to %s: %v", p.report, err)
		}
	}

	if runErr != nil {
		t.Errorf("the run did not complete: %v", runErr)
	}
	if v.failed() {
		t.Errorf("lost %d, duplicated %d, misplaced %d, mismatched %d (listed above)",
			len(v.lost), len(v.duplicates), len(v.misplaced), len(v.mismatched))
	}
	if len(h.findings) > 0 {
		t.Errorf("%d findings during the run (listed above)", len(h.findings))
	}
	if leakErr != nil {
		t.Errorf("goroutines left in the test process: %v", leakErr)
	}
	for _, kind := range []string{"fail-before-write", "fail-after-write", "panic"} {
		if stats.sinkEvents[kind] == 0 && runErr == nil {
			t.Errorf("the sink process never reported a %q fault: the run did not exercise it", kind)
		}
	}
	if t.Failed() {
		t.Logf("replay with: %s", p.replayCommand())
	}
}

// run carries the soak out: it starts the sink process, publishes the
// dataset while injecting the faults, and waits until the sink has
// settled every message and stopped. An error means the run could not
// complete; what it did is in stats.
func (h *harness) run(data *dataset, faults []fault, stats *runStats) error {
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var sampling sync.WaitGroup
	sampling.Go(func() { h.sample(sampleCtx, 250*time.Millisecond) })
	defer func() {
		stopSampling()
		sampling.Wait()
	}()

	if err := h.startSink(); err != nil {
		return err
	}
	// A new subscription starts at the latest message, so the sink must
	// have subscribed before the first record is published.
	if err := h.awaitSubscribed(); err != nil {
		return err
	}

	client, err := danube.NewClient(h.broker.URL())
	if err != nil {
		return fmt.Errorf("connect the source to the broker: %w", err)
	}
	defer client.Close()
	spread := publishSpread(faults)
	h.logf("publishing %d records over %v", len(data.items), spread.Round(time.Second))
	src, err := h.startSource(client, data, spread)
	if err != nil {
		return err
	}
	defer src.stop()

	done, faultErr := h.runFaults(faults)
	stats.faults = done
	if faultErr != nil {
		return faultErr
	}

	timer := time.NewTimer(h.remaining(time.Second))
	defer timer.Stop()
	select {
	case err := <-src.done:
		stats.sourceRuns = src.runs.Load()
		if err != nil {
			return fmt.Errorf("the source did not publish the dataset: %w", err)
		}
	case <-timer.C:
		stats.sourceRuns = src.runs.Load()
		return fmt.Errorf("the source had not published the dataset by the run's deadline")
	}
	stats.publishTook = src.took
	h.logf("the source published the dataset in %v, in %d runs", stats.publishTook.Round(time.Millisecond), stats.sourceRuns)

	settleStart := time.Now()
	if err := h.awaitSettled(); err != nil {
		return err
	}
	stats.settleTook = time.Since(settleStart)
	h.logf("the sink settled every message %v after the last fault and the last publish", stats.settleTook.Round(time.Millisecond))

	if err := h.stopSink(syscall.SIGTERM); err != nil {
		return err
	}
	return nil
}

// sourceRun is the source runtime publishing the dataset in the
// background.
type sourceRun struct {
	// done receives nil once every record is published, or the last
	// error when the run's deadline passes first.
	done chan error
	// took is the time from the start to the last publish, valid once
	// done has received.
	took time.Duration
	// runs counts the Runs of the runtime.
	runs atomic.Int64
	stop func()
}

// startSource runs the source runtime with the dataset's generator, which
// spreads the records over spread, until it has published every record.
// A Run that fails is run again, resuming at the last checkpoint, as a
// supervisor would. stop ends the source and waits for it.
func (h *harness) startSource(client *danube.Client, data *dataset, spread time.Duration) (*sourceRun, error) {
	logFile, err := os.Create(filepath.Join(h.dir, "source.log"))
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))

	gen := newGenerator(data, spread)
	rt, err := source.New(client, gen, source.Options{
		Topic:              soakTopic,
		Partitions:         soakPartitions,
		ConnectorName:      "soak-source",
		BatchSize:          generatorBatch,
		PollInterval:       20 * time.Millisecond,
		CheckpointInterval: time.Second,
		CheckpointEvery:    500,
		MaxRetries:         10,
		RetryBackoff:       100 * time.Millisecond,
		SendTimeout:        30 * time.Second,
		Logger:             logger,
	})
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("build the source runtime: %w", err)
	}

	ctx, cancel := context.WithDeadline(context.Background(), h.deadline)
	sr := &sourceRun{done: make(chan error, 1)}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			sr.runs.Add(1)
			err := rt.Run(ctx)
			if err == nil && gen.committed.Load() == int64(len(data.items)) {
				sr.took = time.Since(start)
				sr.done <- nil
				return
			}
			if ctx.Err() != nil {
				sr.done <- errors.Join(err, context.Cause(ctx))
				return
			}
			h.t.Logf("source run %d ended: %v; running it again from the last checkpoint", sr.runs.Load(), err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	sr.stop = func() {
		cancel()
		wg.Wait()
		logFile.Close()
	}
	return sr, nil
}

// awaitSubscribed waits until the sink has a consumer on every partition.
func (h *harness) awaitSubscribed() error {
	limit := time.Now().Add(min(sinkStartWithin, h.remaining(time.Second)))
	for {
		subscribed := 0
		for i := range soakPartitions {
			if len(h.broker.Consumers(partitionTopic(i))[subscription]) > 0 {
				subscribed++
			}
		}
		if subscribed == soakPartitions {
			return nil
		}
		if time.Now().After(limit) {
			return fmt.Errorf("the sink subscribed to %d of %d partitions within %v", subscribed, soakPartitions, sinkStartWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitSettled waits until the sink has acknowledged every message of
// every partition, restarting a sink process that exits on its own, and
// fails with the state of the subscription when it has not by the time
// allowed.
func (h *harness) awaitSettled() error {
	counts := make([]int, soakPartitions)
	for i := range soakPartitions {
		counts[i] = len(h.broker.Messages(partitionTopic(i)))
	}

	limit := time.Now().Add(min(h.p.settleWithin, h.remaining(time.Second)))
	progress := time.Now()
	for {
		settled := 0
		for i := range soakPartitions {
			st, ok := h.broker.Subscription(partitionTopic(i), subscription)
			if counts[i] == 0 || ok && st.Cursor == int64(counts[i]-1) && len(st.Pending) == 0 {
				settled++
			}
		}
		if settled == soakPartitions {
			return nil
		}
		if err := h.checkSinkAlive(); err != nil {
			return err
		}
		if time.Now().After(limit) {
			return fmt.Errorf("the sink did not settle every message within %v:\n%s", h.p.settleWithin, h.subscriptionState(counts))
		}
		if time.Since(progress) >= settleProgressEvery {
			progress = time.Now()
			h.logf("settling: %s", h.cursors(counts))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settleProgressEvery is the interval of the progress lines while the
// test waits for the sink to settle.
const settleProgressEvery = 15 * time.Second

// cursors describes how far the sink's subscription got on every
// partition, in one line.
func (h *harness) cursors(counts []int) string {
	var parts []string
	for i := range soakPartitions {
		st, _ := h.broker.Subscription(partitionTopic(i), subscription)
		parts = append(parts, fmt.Sprintf("%s acknowledged up to %d of %d, %d pending", partitionTopic(i), st.Cursor+1, counts[i], len(st.Pending)))
	}
	return strings.Join(parts, "; ")
}

// subscriptionState describes the sink's subscription on every partition,
// for a failure message.
func (h *harness) subscriptionState(counts []int) string {
	var b strings.Builder
	for i := range soakPartitions {
		st, ok := h.broker.Subscription(partitionTopic(i), subscription)
		if !ok {
			fmt.Fprintf(&b, "  %s: no subscription\n", partitionTopic(i))
			continue
		}
		fmt.Fprintf(&b, "  %s: %d messages, cursor %d, %d pending, %d consumers\n",
			partitionTopic(i), counts[i], st.Cursor, len(st.Pending), len(st.Consumers))
		for j, e := range st.Pending {
			if j == 10 {
				fmt.Fprintf(&b, "    ... and %d more\n", len(st.Pending)-10)
				break
			}
			fmt.Fprintf(&b, "    offset %d: %s after %d deliveries, last failure %q\n", e.Offset, e.Status, e.Attempts, e.Reason)
		}
	}
	if proc := h.current(); proc != nil {
		fmt.Fprintf(&b, "the log of sink process %d ends with:\n%s", proc.incarnation, indent(proc.logTail(4000), "    "))
	}
	return b.String()
}

// collect reads the end state: the broker's messages and dead letters and
// the documents in MongoDB.
func (h *harness) collect() (*observed, error) {
	obs := &observed{}
	for i := range soakPartitions {
		obs.partitions = append(obs.partitions, h.broker.Messages(partitionTopic(i)))
	}
	obs.deadLetters = h.broker.Messages(deadLetterTopic)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(h.mongo.URI()).SetTimeout(time.Minute))
	if err != nil {
		return obs, fmt.Errorf("connect to MongoDB to read the documents: %w", err)
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()

	db := client.Database(databaseName)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return obs, fmt.Errorf("list the collections of %s: %w", databaseName, err)
	}
	for _, name := range names {
		if err := readCollection(ctx, db.Collection(name), obs); err != nil {
			return obs, err
		}
	}
	return obs, nil
}

// readCollection appends every document of coll to obs.
func readCollection(ctx context.Context, coll *mongo.Collection, obs *observed) error {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("read the documents of %s: %w", coll.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		obs.documents = append(obs.documents, storedDocument{collection: coll.Name(), doc: bytes.Clone(cur.Current)})
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read the documents of %s: %w", coll.Name(), err)
	}
	return nil
}

// shutdown stops everything the harness started, so that the test can
// check for goroutines left behind.
func (h *harness) shutdown() {
	if proc := h.current(); proc != nil {
		proc.kill()
	}
	h.http.CloseIdleConnections()
	_ = h.admin.Close()
	h.broker.Close()
	if err := h.mongo.Stop(); err != nil {
		h.logf("stop the MongoDB server: %v", err)
	}
}
