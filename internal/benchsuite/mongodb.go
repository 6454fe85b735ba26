package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/internal/baseline"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// errNoSamples is returned by the sections that need the sample documents
// when the run has none.
var errNoSamples = errors.New("no sample documents: the data directory (DANUBE_CONNECT_DATA) was not found")

// The sink's settings in the MongoDB section.
const (
	mongoWindow    = 1000
	mongoBatch     = 1000
	mongoTopic     = "/default/events"
	mongoConnector = "bench-mongodb"
)

// uniquePayloads returns n payloads made of the samples in turn, each with
// a new ObjectId in place of its own, so that no two collide.
func uniquePayloads(samples [][]byte, n int) ([][]byte, error) {
	const oid = `{"$oid":"`
	var usable [][]byte
	for _, s := range samples {
		if bytes.Contains(s, []byte(oid)) {
			usable = append(usable, s)
		}
	}
	if len(usable) == 0 {
		return nil, errors.New("no sample document has an ObjectId _id to replace")
	}

	payloads := make([][]byte, n)
	for i := range payloads {
		p := bytes.Clone(usable[i%len(usable)])
		at := bytes.Index(p, []byte(oid)) + len(oid)
		copy(p[at:], bson.NewObjectID().Hex())
		payloads[i] = p
	}
	return payloads, nil
}

// rawDocuments converts Extended JSON payloads into BSON documents, as the
// driver would insert them.
func rawDocuments(payloads [][]byte) ([]bson.Raw, error) {
	docs := make([]bson.Raw, len(payloads))
	for i, p := range payloads {
		if err := bson.UnmarshalExtJSON(p, false, &docs[i]); err != nil {
			return nil, fmt.Errorf("sample payload %d: %w", i, err)
		}
	}
	return docs, nil
}

// writeCounter passes a connector's writes through and counts the records
// written, noting when the first write began and when want records were
// written.
type writeCounter struct {
	sink.Connector
	want int64

	once    sync.Once
	first   time.Time
	writes  atomic.Int64
	records atomic.Int64 // in every write, retried ones included
	written atomic.Int64
	failed  atomic.Int64
	last    atomic.Int64 // UnixNano of the write that reached want
	done    chan struct{}
}

func (w *writeCounter) Write(ctx context.Context, batch []*sink.Record) error {
	w.once.Do(func() { w.first = time.Now() })
	w.writes.Add(1)
	w.records.Add(int64(len(batch)))

	err := w.Connector.Write(ctx, batch)
	written := len(batch)
	var be *sink.BatchError
	switch {
	case err == nil:
	case errors.As(err, &be) && len(be.Failures) > 0:
		failed := map[int]bool{}
		for _, f := range be.Failures {
			failed[f.Index] = true
		}
		written -= len(failed)
	default:
		written = 0
	}
	w.failed.Add(int64(len(batch) - written))
	if w.written.Add(int64(written)) >= w.want && w.last.CompareAndSwap(0, time.Now().UnixNano()) {
		close(w.done)
	}
	return err
}

// sinkRun is the outcome of one run of the MongoDB sink.
type sinkRun struct {
	rate      float64 // documents written per second
	failed    int64   // record write failures, retried by the runtime
	meanBatch float64 // records per write
	stored    []bson.Raw
}

// runMongoSink publishes the payloads to a new broker with the given
// window, then runs the sink
// runtime with the MongoDB connector configured by mcfg until it has
// written them all and the broker has every acknowledgement. The rate is
// taken from the start of the first write to the end of the write that
// completed the set. With readBack, the stored documents are returned.
func (s *suite) runMongoSink(ctx context.Context, payloads [][]byte, window int, mcfg mongodb.Config, readBack bool) (sinkRun, error) {
	n := len(payloads)
	b, err := startBroker(window, mongoTopic)
	if err != nil {
		return sinkRun{}, err
	}
	defer b.close()
	if err := b.subscribe(ctx, mongoConnector); err != nil {
		return sinkRun{}, err
	}
	if _, err := b.publish(ctx, n, func(i int) []byte { return payloads[i] }); err != nil {
		return sinkRun{}, fmt.Errorf("publish the documents: %w", err)
	}

	database := fmt.Sprintf("benchsuite_%d", time.Now().UnixNano())
	mcfg.ConnectionString, mcfg.Database, mcfg.Collection = s.env.MongoURI, database, "events"
	quiet := s.log.With("component", "mongodb sink")
	ms, err := mongodb.New(mcfg, mongodb.WithLogger(quiet))
	if err != nil {
		return sinkRun{}, err
	}
	counter := &writeCounter{Connector: ms, want: int64(n), done: make(chan struct{})}

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = b.broker.URL()
	cfg.ConnectorName = mongoConnector
	cfg.DanubeTopic = []string{mongoTopic}
	cfg.BatchSize = mongoBatch
	cfg.LogLevel = "warn"
	rt, err := sink.New(counter, cfg, sink.Options{Logger: quiet, Client: b.client})
	if err != nil {
		return sinkRun{}, err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- rt.Run(runCtx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-runErr
		}
	}()

	select {
	case <-counter.done:
	case err := <-runErr:
		stopped = true
		return sinkRun{}, fmt.Errorf("sink stopped after writing %d of %d documents: %w", counter.written.Load(), n, err)
	case <-ctx.Done():
		return sinkRun{}, fmt.Errorf("sink wrote %d of %d documents: %w", counter.written.Load(), n, ctx.Err())
	}
	run := sinkRun{
		rate:      float64(n) / time.Unix(0, counter.last.Load()).Sub(counter.first).Seconds(),
		failed:    counter.failed.Load(),
		meanBatch: float64(counter.records.Load()) / float64(counter.writes.Load()),
	}

	if err := waitAcked(ctx, b, mongoConnector, n); err != nil {
		return sinkRun{}, err
	}
	stop()
	stopped = true
	if err := <-runErr; err != nil {
		return sinkRun{}, fmt.Errorf("sink Run: %w", err)
	}

	run.stored, err = checkStored(ctx, s.env.MongoURI, database, n, readBack)
	return run, err
}

// waitAcked waits until the broker has the acknowledgement of each of the
// n messages of subscription sub, for at most a minute.
func waitAcked(ctx context.Context, b *testBroker, sub string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		st, ok := b.broker.Subscription(b.topic, sub)
		if ok && st.Cursor == int64(n-1) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the broker has acknowledgements up to offset %d of %d messages: %w", st.Cursor, n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkStored checks that the database holds n documents in its events
// collection, returns them when readBack is set, and drops the database.
func checkStored(ctx context.Context, uri, database string, n int, readBack bool) ([]bson.Raw, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.Background())
	db := client.Database(database)
	defer db.Drop(context.Background())

	coll := db.Collection("events")
	count, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("count the stored documents: %w", err)
	}
	if count != int64(n) {
		return nil, fmt.Errorf("the sink stored %d documents of %d", count, n)
	}
	if !readBack {
		return nil, nil
	}

	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("read the stored documents back: %w", err)
	}
	defer cur.Close(ctx)
	stored := make([]bson.Raw, 0, n)
	for cur.Next(ctx) {
		stored = append(stored, bytes.Clone(cur.Current))
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read the stored documents back: %w", err)
	}
	return stored, nil
}

// describeServer returns the server's name and version as buildInfo
// reports them.
func describeServer(ctx context.Context, uri string) string {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
	if err != nil {
		return "unknown server"
	}
	defer client.Disconnect(context.Background())
	var info struct {
		Version         string `bson:"version"`
		FerretDBVersion string `bson:"ferretdbVersion"`
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return "unknown server"
	}
	switch info.FerretDBVersion {
	case "":
		return "MongoDB " + info.Version
	case "unknown":
		// A FerretDB built without its version information, as the
		// embedded module's server is.
		return fmt.Sprintf("FerretDB, version not built in (reports MongoDB %s)", info.Version)
	}
	return fmt.Sprintf("FerretDB %s (reports MongoDB %s)", info.FerretDBVersion, info.Version)
}

// measureMongoDB compares the MongoDB sink, consuming through the broker,
// with a plain InsertMany loop of the same documents into the same
// server.
func (s *suite) measureMongoDB(ctx context.Context, sec *Section) error {
	if s.env.MongoURI == "" {
		return errors.New("no MongoDB server: set -mongodb-uri or MONGODB_URI, or let the run start the embedded one")
	}
	if len(s.env.Samples) == 0 {
		return errNoSamples
	}
	s.report.Machine.MongoDB = describeServer(ctx, s.env.MongoURI)
	if s.env.MongoSource != "" {
		s.report.Machine.MongoDB += ", " + s.env.MongoSource
	}

	n := s.cfg.MongoDocuments
	payloads, err := uniquePayloads(s.env.Samples, n)
	if err != nil {
		return err
	}
	raw, err := rawDocuments(payloads)
	if err != nil {
		return err
	}
	size := 0
	for _, d := range raw {
		size += len(d)
	}
	sec.Note = fmt.Sprintf("%d sample documents (MongoDB's sample_analytics accounts, %d bytes of BSON on average, each with an ObjectId _id of its own). "+
		"The sink: the backlog is published to a reliable topic first, then the sink runtime with the MongoDB connector consumes it "+
		"through the in-process broker, window %d, batches of %d, unordered inserts; timed from the start of its first write to the end "+
		"of the write that completed the set, then checked: every message acknowledged, every document stored. "+
		"InsertMany: the driver's unordered InsertMany in batches of %d, the documents converted to BSON before the clock starts. "+
		"Each sink run is compared with InsertMany of exactly the documents it stored, and, as an estimate of its bound on a "+
		"machine that runs the broker and the database as well, with 1/(1/InsertMany + 1/unary ceiling): each document takes "+
		"the machine's time for an insert and for the unary call that acknowledges it, and nothing else is counted.",
		n, size/n, mongoWindow, mongoBatch, mongoBatch)
	ceilRaw, err := baseline.InsertMany(ctx, s.env.MongoURI, raw, mongoBatch)
	if err != nil {
		return fmt.Errorf("InsertMany of the raw documents: %w", err)
	}
	ceilingRow := Row{Name: "InsertMany, unordered, batches of 1000, the raw sample documents", Value: Rate(ceilRaw, "docs")}
	s.report.Section(titleCeilings).Rows = append(s.report.Section(titleCeilings).Rows, ceilingRow)

	plain, err := s.runMongoSink(ctx, payloads, mongoWindow, mongodb.Config{OmitMetadata: true}, false)
	if err != nil {
		return fmt.Errorf("sink without metadata: %w", err)
	}
	sec.Rows = append(sec.Rows, s.sinkRows("sink, no metadata, the payload's _id (stores the raw documents)", plain,
		"InsertMany, the raw documents", ceilRaw)...)

	// The sink writes smaller batches than it is allowed to; InsertMany
	// with batches of that size shows what the size alone costs.
	small := max(1, int(math.Round(plain.meanBatch)))
	ceilSmall, err := baseline.InsertMany(ctx, s.env.MongoURI, raw, small)
	if err != nil {
		return fmt.Errorf("InsertMany of the raw documents in batches of %d: %w", small, err)
	}
	sec.Rows = append(sec.Rows, Row{
		Name:  fmt.Sprintf("InsertMany, the raw documents, batches of %d (the sink's mean write)", small),
		Value: Rate(ceilSmall, "docs"), Versus: fmt.Sprintf("batches of %d: %s", mongoBatch, Rate(ceilRaw, "docs")),
		Ratio: ratio(ceilSmall, ceilRaw),
	})

	full, err := s.runMongoSink(ctx, payloads, mongoWindow, mongodb.Config{IDOverwrite: true}, true)
	if err != nil {
		return fmt.Errorf("sink with metadata: %w", err)
	}
	ceilStored, err := baseline.InsertMany(ctx, s.env.MongoURI, full.stored, mongoBatch)
	if err != nil {
		return fmt.Errorf("InsertMany of the documents the sink stored: %w", err)
	}
	sec.Rows = append(sec.Rows, s.sinkRows("sink, metadata, deterministic _id (topic:partition:offset:publish time)", full,
		"InsertMany, the documents the sink stored", ceilStored)...)
	return nil
}

// sinkRows returns the row of a sink run compared with an InsertMany
// rate and held to the target of 80% of it. When the unary ceiling was
// measured, a second row compares the run with an estimate of its bound
// on a machine that runs the broker and the database too: each document
// costs the machine's time for one insert, 1/insertMany, plus one unary
// acknowledgement, 1/unary, and the rest is taken as free.
func (s *suite) sinkRows(name string, run sinkRun, versus string, insertMany float64) []Row {
	name += fmt.Sprintf(", %d records per write on average", int(math.Round(run.meanBatch)))
	if run.failed > 0 {
		name += fmt.Sprintf(", %d record writes failed and were retried", run.failed)
	}
	rows := []Row{{
		Name: name, Value: Rate(run.rate, "docs"),
		Versus: fmt.Sprintf("%s: %s", versus, Rate(insertMany, "docs")), Ratio: ratio(run.rate, insertMany),
	}}
	if insertMany > 0 {
		rows[0].Target, rows[0].Verdict = "≥ 0.80×", verdict(run.rate/insertMany >= 0.8)
	}

	_, unary := s.unaryCeiling()
	if unary > 0 && insertMany > 0 {
		bound := 1 / (1/insertMany + 1/unary)
		rows = append(rows, Row{
			Name: "the same, against an estimate of its bound here: an insert and a unary ack per document", Value: Rate(run.rate, "docs"),
			Versus: fmt.Sprintf("1/(1/InsertMany + 1/unary with 64 callers): %s", Rate(bound, "docs")), Ratio: ratio(run.rate, bound),
		})
	}
	return rows
}
