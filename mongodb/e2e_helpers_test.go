package mongodb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/syncbuf"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// e2eWait bounds every wait of an end-to-end test for something
// asynchronous. It is real time, a guard against a hang rather than a
// timing under test, generous because the race detector slows FerretDB
// and the broker several times over.
const e2eWait = 3 * time.Minute

// The names every end-to-end test uses on its own broker.
const (
	e2eTopic        = "/default/events"
	e2eDeadLetter   = "/default/events-dlq"
	e2eConnector    = "mongodb-e2e"
	e2eCollection   = "events"
	e2eBrokerWindow = 1000
)

// e2eOptions configures startE2E. The zero value runs the MongoDB sink
// with its defaults on a database of the test's own, on the shared test
// server.
type e2eOptions struct {
	// mongo is the sink's configuration; the connection string, database
	// and collection are filled in.
	mongo mongodb.Config
	// uri is the server to write to, mongotest.URI when empty.
	uri string
	// wrap, when set, wraps the MongoDB sink, to inject failures.
	wrap func(sink.Connector) sink.Connector
	// runtime, when set, adjusts the runtime's configuration.
	runtime func(*sink.Config)
}

// e2e is one running sink: a broker of its own, the sink runtime with the
// MongoDB connector, and the collection it writes to.
type e2e struct {
	t      *testing.T
	broker *danubetest.Broker
	rt     *sink.Runtime
	coll   *mongo.Collection
	log    *syncbuf.Buffer
}

// startE2E starts a broker, creates the reliable topic, starts the sink
// runtime and returns once its subscription exists and the connector is
// open. Every message published afterwards reaches the sink, because a new
// subscription on a reliable topic starts at the latest message. The sink
// is stopped, and must stop cleanly, when the test ends.
func startE2E(t *testing.T, o e2eOptions) *e2e {
	t.Helper()

	e := &e2e{t: t, log: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sink log:\n%s", e.log.String())
		}
	})
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))

	e.broker = danubetest.Start(t, danubetest.WithWindow(e2eBrokerWindow))
	if err := e.broker.CreateTopic(e2eTopic, true); err != nil {
		t.Fatalf("create topic %s: %v", e2eTopic, err)
	}

	uri := o.uri
	if uri == "" {
		uri = mongotest.URI(t)
	}
	client := mongotest.Connect(t, uri)
	db := client.Database(mongotest.DatabaseName(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Logf("drop test database %s: %v", db.Name(), err)
		}
	})
	e.coll = db.Collection(e2eCollection)

	mcfg := o.mongo
	mcfg.ConnectionString, mcfg.Database, mcfg.Collection = uri, db.Name(), e2eCollection
	ms, err := mongodb.New(mcfg, mongodb.WithLogger(logger))
	if err != nil {
		t.Fatalf("mongodb.New: %v", err)
	}
	var conn sink.Connector = ms
	if o.wrap != nil {
		conn = o.wrap(ms)
	}

	cfg := sink.DefaultConfig()
	cfg.ServiceURL = e.broker.URL()
	cfg.ConnectorName = e2eConnector
	cfg.DanubeTopic = []string{e2eTopic}
	cfg.DeadLetterTopic = e2eDeadLetter
	cfg.BatchTimeout = 20 * time.Millisecond
	cfg.RetryBackoff = 20 * time.Millisecond
	cfg.MaxBackoff = 200 * time.Millisecond
	if o.runtime != nil {
		o.runtime(&cfg)
	}
	e.rt, err = sink.New(conn, cfg, sink.Options{Logger: logger})
	if err != nil {
		t.Fatalf("sink.New: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sink Run: %v", err)
			}
		case <-time.After(e2eWait):
			t.Errorf("sink Run did not return within %v of its stop", e2eWait)
		}
	})

	e.waitFor("the sink is subscribed and its connector open", func() bool {
		return e.rt.Ready(ctx) == nil
	})
	return e
}

// waitFor polls cond until it holds, failing the test after e2eWait.
func (e *e2e) waitFor(what string, cond func() bool) {
	e.t.Helper()
	waitFor(e.t, what, cond)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", e2eWait, what)
		}
		<-tick.C
	}
}

// publish sends every payload to the topic, with up to 256 sends in
// flight, and returns once the broker has stored all of them.
func (e *e2e) publish(payloads [][]byte) {
	e.t.Helper()
	publishTo(e.t, e.broker.URL(), e2eTopic, payloads)
}

func publishTo(t testing.TB, url, topic string, payloads [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()

	client, err := danube.NewClient(url)
	if err != nil {
		t.Fatalf("danube client: %v", err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Reliable: true})
	if err != nil {
		t.Fatalf("producer on %s: %v", topic, err)
	}
	defer producer.Close()

	var mu sync.Mutex
	var errs []error
	for _, p := range payloads {
		producer.SendAsync(ctx, danube.Message{Payload: p}, func(err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatalf("flush the producer of %s: %v", topic, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("%d of %d sends to %s failed, the first: %v", len(errs), len(payloads), topic, errs[0])
	}
}

// stats returns the counters of the sink's one route.
func (e *e2e) stats() sink.RouteStats {
	return e.rt.Stats()[0]
}

// waitSettled waits until the sink has acked or dead-lettered n records
// in all, and holds none.
func (e *e2e) waitSettled(n int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("the sink settled %d records", n), func() bool {
		st := e.stats()
		return st.Acked+st.DeadLettered >= uint64(n) && st.InFlight == 0
	})
}

// waitAcknowledged waits until the broker holds every one of the first n
// messages of the topic acknowledged: the subscription's cursor is at
// offset n-1 and nothing is pending.
func (e *e2e) waitAcknowledged(n int) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("the broker's cursor reached offset %d", n-1), func() bool {
		st, ok := e.broker.Subscription(e2eTopic, e2eConnector)
		return ok && st.Cursor == int64(n-1) && len(st.Pending) == 0
	})
}

// count returns the number of documents in the sink's collection.
func (e *e2e) count() int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := e.coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		e.t.Fatalf("count %s: %v", e.coll.Name(), err)
	}
	return n
}

// storedByID returns every document of the sink's collection by the text
// form of its _id.
func (e *e2e) storedByID() map[string]bson.Raw {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cursor, err := e.coll.Find(ctx, bson.D{})
	if err != nil {
		e.t.Fatalf("find in %s: %v", e.coll.Name(), err)
	}
	defer cursor.Close(ctx)

	docs := map[string]bson.Raw{}
	for cursor.Next(ctx) {
		doc := bson.Raw(bytes.Clone(cursor.Current))
		id := doc.Lookup("_id").String()
		if _, dup := docs[id]; dup {
			e.t.Fatalf("the collection holds _id %s twice", id)
		}
		docs[id] = doc
	}
	if err := cursor.Err(); err != nil {
		e.t.Fatalf("read %s: %v", e.coll.Name(), err)
	}
	return docs
}

// deadLetters returns the messages of the dead-letter topic.
func (e *e2e) deadLetters() []danubetest.Message {
	return e.broker.Messages(e2eDeadLetter)
}

// fromExtendedJSON returns the BSON document the Go driver reads from an
// Extended JSON line: what the sink must store for it.
func fromExtendedJSON(t testing.TB, line []byte) bson.Raw {
	t.Helper()
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON(line, false, &doc); err != nil {
		t.Fatalf("sample line does not parse as Extended JSON: %v", err)
	}
	return doc
}

// modes runs f as a subtest with unordered and with ordered inserts.
func modes(t *testing.T, f func(t *testing.T, ordered bool)) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) { f(t, ordered) })
	}
}

// lostReply wraps a connector so that the first Write of each batch writes
// and then reports every record as retryable, as when the reply of a
// write that succeeded is lost: the runtime writes the batch again.
type lostReply struct {
	sink.Connector
	mu    sync.Mutex
	seen  map[uint64]bool
	fails int
}

func (c *lostReply) Write(ctx context.Context, batch []*sink.Record) error {
	if err := c.Connector.Write(ctx, batch); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[batch[0].Offset] {
		return nil
	}
	c.seen[batch[0].Offset] = true
	c.fails++
	return sink.Retryable(errors.New("reply of the write lost"))
}

func (c *lostReply) lostReplies() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fails
}

// stringIDKey returns the key of storedByID for a string _id.
func stringIDKey(t testing.TB, id string) string {
	t.Helper()
	typ, value, err := bson.MarshalValue(id)
	if err != nil {
		t.Fatalf("marshal _id %q: %v", id, err)
	}
	return bson.RawValue{Type: typ, Value: value}.String()
}

// withoutField returns doc without its top-level field key.
func withoutField(t testing.TB, doc bson.Raw, key string) bson.Raw {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatalf("document does not parse: %v", err)
	}
	out := []byte{0, 0, 0, 0}
	for _, e := range elems {
		if e.Key() != key {
			out = append(out, e...)
		}
	}
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}
