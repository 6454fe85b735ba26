package connect_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// TestJSONLinesIntoMongoDB runs the project's own source into its own
// sink with their default settings: every line of the file must be stored
// as a document, with the source's attributes in its metadata, and none
// dead-lettered or nacked.
func TestJSONLinesIntoMongoDB(t *testing.T) {
	const (
		topic = "/default/jsonl-lines"
		lines = 20
	)
	broker := startBroker()
	defer broker.Close()
	createTopic(broker, topic)
	database := uniqueName("jsonl")
	logger := slog.New(slog.DiscardHandler)

	input := filepath.Join(t.TempDir(), "input.jsonl")
	var text strings.Builder
	for i := range lines {
		fmt.Fprintf(&text, "{\"line\":%d}\n", i)
	}
	if err := os.WriteFile(input, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	conn, err := mongodb.New(mongodb.Config{ConnectionString: mongoURI, Database: database, Collection: "lines"},
		mongodb.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "lines-to-mongodb"
	cfg.DanubeTopic = []string{topic}
	rt, err := sink.New(conn, cfg, sink.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sink Run = %v", err)
		}
	}()
	// A new subscription starts at the latest message.
	waitFor("the sink is ready", func() bool { return rt.Ready(ctx) == nil })

	publishFile(t, broker.URL(), topic, input, logger)
	waitFor("every line is settled", func() bool {
		st := rt.Stats()[0]
		return st.Acked+st.Nacked+st.DeadLettered >= lines
	})
	if st := rt.Stats()[0]; st.Acked != lines || st.Nacked != 0 || st.DeadLettered != 0 {
		t.Fatalf("sink settled %d acked, %d nacked, %d dead-lettered; want all %d acked", st.Acked, st.Nacked, st.DeadLettered, lines)
	}

	docs := readDocuments(t, database, "lines")
	if len(docs) != lines {
		t.Errorf("collection holds %d documents, want %d", len(docs), lines)
	}
	stored := make(map[int]bool)
	for _, doc := range docs {
		var fields struct {
			Line     int `bson:"line"`
			Metadata struct {
				Attributes map[string]string `bson:"attributes"`
			} `bson:"_danube"`
		}
		if err := bson.Unmarshal(doc, &fields); err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		stored[fields.Line] = true
		if got, want := fields.Metadata.Attributes[jsonl.AttrLine], fmt.Sprint(fields.Line+1); got != want {
			t.Errorf("document of line %d has attribute %s = %q, want %q", fields.Line, jsonl.AttrLine, got, want)
		}
	}
	for i := range lines {
		if !stored[i] {
			t.Errorf("line %d is not stored", i)
		}
	}
}

// publishFile publishes every line of input to topic with the settings
// of danube-source-jsonl at their defaults, except that it stops at the
// end of the file instead of following it.
func publishFile(t *testing.T, url, topic, input string, logger *slog.Logger) {
	t.Helper()
	client, err := danube.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// The settings of danube-source-jsonl: every default, and only what
	// it requires set.
	env := map[string]string{
		"DANUBE_SERVICE_URL": url,
		"DANUBE_TOPIC":       topic,
		"CONNECTOR_NAME":     "lines",
		"JSONL_FILE":         input,
		"JSONL_FOLLOW":       "false", // end at the end of the file
	}
	var jcfg jsonl.Config
	lookup := func(key string) (string, bool) { v, ok := env[key]; return v, ok }
	if err := config.Load(&jcfg, config.Source{Lookup: lookup}); err != nil {
		t.Fatal(err)
	}
	conn, err := jsonl.New(jcfg.SourceOptions())
	if err != nil {
		t.Fatal(err)
	}

	opts := jcfg.Options()
	opts.Logger = logger
	rt, err := source.New(client, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("source Run = %v", err)
	}
}

// readDocuments returns the documents of a collection and drops the
// database.
func readDocuments(t *testing.T, database, collection string) []bson.Raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	db := client.Database(database)
	defer func() { _ = db.Drop(ctx) }()

	cursor, err := db.Collection(collection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("read %s.%s: %v", database, collection, err)
	}
	var docs []bson.Raw
	if err := cursor.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}
