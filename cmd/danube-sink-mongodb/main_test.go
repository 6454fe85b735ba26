package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { removeBinary() }))
}

// The names every test of the binary uses on its own broker.
const (
	testTopic     = "/default/accounts"
	testConnector = "accounts-to-mongodb"
)

// sinkEnv returns the environment of a binary that consumes testTopic
// from the broker at url and writes to a collection of its own in a
// database of the test's own, on the server at uri, and that collection.
func sinkEnv(t *testing.T, url, uri string) (map[string]string, *mongo.Collection) {
	t.Helper()
	db := mongotest.Connect(t, uri).Database(mongotest.DatabaseName(t))
	t.Cleanup(func() { db.Drop(t.Context()) })
	env := map[string]string{
		"DANUBE_SERVICE_URL":         url,
		"DANUBE_TOPIC":               testTopic,
		"CONNECTOR_NAME":             testConnector,
		"MONGODB_CONNECTION_STRING":  uri,
		"MONGODB_DATABASE":           db.Name(),
		"MONGODB_COLLECTION":         "accounts",
		"ID_STRATEGY":                "deterministic",
		"ID_OVERWRITE":               "true",
		"BATCH_TIMEOUT_MS":           "20",
		"RETRY_BACKOFF_MS":           "20",
		"MAX_BACKOFF_MS":             "200",
		"THROUGHPUT_LOG_INTERVAL_MS": "100",
		"LOG_LEVEL":                  "debug",
	}
	return env, db.Collection("accounts")
}

// startBroker starts a broker with a reliable testTopic.
func startBroker(t *testing.T) *danubetest.Broker {
	t.Helper()
	b := danubetest.Start(t, danubetest.WithWindow(1000))
	if err := b.CreateTopic(testTopic, true); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return b
}

// TestBinaryWritesAndCountsMessages runs the binary against a broker and
// MongoDB, publishes N messages, and finds N documents, N messages in
// each counter of /metrics, a throughput line with N, and a clean exit 0
// on SIGTERM.
func TestBinaryWritesAndCountsMessages(t *testing.T) {
	payloads := testdata.Lines(t, "accounts.ejson")[:700]
	b := startBroker(t)
	env, coll := sinkEnv(t, b.URL(), mongotest.URI(t))
	p := startBinary(t, env)

	p.waitStatus("/readyz", http.StatusOK)
	if status, _ := p.get("/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz: %d, want 200", status)
	}
	publish(t, b.URL(), testTopic, payloads)

	n := float64(len(payloads))
	var metrics string
	p.waitFor(fmt.Sprintf("/metrics counts %d acked messages", len(payloads)), func() bool {
		_, metrics = p.get("/metrics")
		acked, _ := metricSum(metrics, "danube_connector_messages_settled_total", `messaging_operation_name="ack"`)
		return acked >= n
	})
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"messaging_client_consumed_messages_total", nil},
		{"danube_connector_messages_settled_total", []string{`messaging_operation_name="ack"`}},
		{"danube_connector_stage_received_total", []string{`danube_stage_name="write"`}},
		{"danube_connector_batch_size_sum", nil},
	} {
		labels := append([]string{`danube_connector_name="` + testConnector + `"`}, c.labels...)
		got, ok := metricSum(metrics, c.name, labels...)
		if !ok || got != n {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, n)
		}
	}
	for _, failure := range []string{
		"danube_connector_messages_failed_total",
		"danube_connector_messages_redelivered_total",
	} {
		if got, _ := metricSum(metrics, failure); got != 0 {
			t.Errorf("%s = %v, want 0", failure, got)
		}
	}
	if got := countDocuments(t, coll); got != int64(len(payloads)) {
		t.Errorf("collection holds %d documents, want %d", got, len(payloads))
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != lifecycle.ExitOK {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	lines := p.logLines("throughput")
	if len(lines) == 0 {
		t.Fatal("the binary logged no throughput line")
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, fmt.Sprintf(`"total_written":%d`, len(payloads))) {
		t.Errorf("last throughput line %s, want total_written %d", last, len(payloads))
	}
	if len(p.logLines("sink stopped cleanly")) != 1 {
		t.Error("the binary did not log its clean stop")
	}
}

// TestBinaryReadyOnceBrokerReachable starts the binary while the broker
// is down: it is alive but not ready until the broker comes back, then
// ready. Its stop line shows DRAIN_TIMEOUT_MS as set, and separately the
// later time at which the program forces the stop.
func TestBinaryReadyOnceBrokerReachable(t *testing.T) {
	b := startBroker(t)
	b.Stop()
	env, coll := sinkEnv(t, b.URL(), mongotest.URI(t))
	env["DRAIN_TIMEOUT_MS"] = "30000"
	p := startBinary(t, env)

	p.waitStatus("/healthz", http.StatusOK)
	status, body := p.get("/readyz")
	if status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz with the broker down: %d %q, want 503", status, body)
	}

	if err := b.Restart(); err != nil {
		t.Fatalf("restart the broker: %v", err)
	}
	p.waitStatus("/readyz", http.StatusOK)

	payloads := testdata.Lines(t, "accounts.ejson")[:50]
	publish(t, b.URL(), testTopic, payloads)
	p.waitFor("every message is written", func() bool { return countDocuments(t, coll) == int64(len(payloads)) })

	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != lifecycle.ExitOK {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	stop := p.lastLog("stopping: draining what is in flight; a second signal forces the stop")
	if got := stop["drain_timeout"]; got != "30s" {
		t.Errorf("stop line drain_timeout = %v, want 30s, as DRAIN_TIMEOUT_MS sets it", got)
	}
	if got, want := stop["force_stop_after"], (30*time.Second + drainMargin).String(); got != want {
		t.Errorf("stop line force_stop_after = %v, want %s", got, want)
	}
}

// TestBinaryDrainsOnSIGTERM stops the binary with SIGTERM while messages
// stream in: it exits 0, and every message the broker counts as
// acknowledged is in MongoDB. A second run writes the rest, and the
// collection ends with each message exactly once.
func TestBinaryDrainsOnSIGTERM(t *testing.T) {
	payloads := testdata.Lines(t, "accounts.ejson")
	b := startBroker(t)
	env, coll := sinkEnv(t, b.URL(), mongotest.URI(t))
	env["BATCH_SIZE"] = "50"
	p := startBinary(t, env)
	p.waitStatus("/readyz", http.StatusOK)

	published := make(chan struct{})
	go func() {
		defer close(published)
		publish(t, b.URL(), testTopic, payloads)
	}()
	p.waitFor("some documents are written", func() bool { return countDocuments(t, coll) > 0 })
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != lifecycle.ExitOK {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	<-published

	// The drain settled everything the sink received: none is left in
	// flight, and every acked message is in MongoDB, up to the broker's
	// cursor at least. Every message past the cursor comes again.
	totals := p.lastLog("sink totals")
	stored := storedIDs(t, coll)
	if totals["in_flight"] != 0.0 {
		t.Errorf("%v records in flight after the drain, want 0", totals["in_flight"])
	}
	if acked := totals["acked"]; acked != float64(len(stored)) {
		t.Errorf("the sink acked %v records and MongoDB holds %d documents, want as many", acked, len(stored))
	}
	st, ok := b.Subscription(testTopic, testConnector)
	if !ok {
		t.Fatal("the subscription is gone")
	}
	for offset := int64(0); offset <= st.Cursor; offset++ {
		if !stored[storedID(t, b, offset)] {
			t.Errorf("offset %d is acknowledged but not in MongoDB", offset)
		}
	}
	t.Logf("after the drain: %d of %d messages stored, %v nacked, cursor at %d", len(stored), len(payloads), totals["nacked"], st.Cursor)

	second := startBinary(t, env)
	second.waitFor("every message is written", func() bool { return countDocuments(t, coll) >= int64(len(payloads)) })
	second.signal(syscall.SIGTERM)
	if code := second.wait(); code != lifecycle.ExitOK {
		t.Fatalf("second run: exit status %d after SIGTERM, want 0", code)
	}
	if got := countDocuments(t, coll); got != int64(len(payloads)) {
		t.Errorf("collection holds %d documents, want each of the %d messages once", got, len(payloads))
	}
}

// storedIDs returns the _id of every document of coll, as strings.
func storedIDs(t *testing.T, coll *mongo.Collection) map[string]bool {
	t.Helper()
	cursor, err := coll.Find(t.Context(), bson.D{})
	if err != nil {
		t.Fatalf("find in %s: %v", coll.Name(), err)
	}
	defer cursor.Close(t.Context())
	ids := map[string]bool{}
	for cursor.Next(t.Context()) {
		ids[cursor.Current.Lookup("_id").StringValue()] = true
	}
	if err := cursor.Err(); err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	return ids
}

// TestBinaryKeepsCredentialsOutOfOutput runs the binary with a connection
// string that carries a password. The server accepts the credentials in
// one case (PLAIN, which FerretDB takes on SQLite) and rejects them in the
// other (SCRAM). Through the start, the writes or the failed
// authentication and its retries, the operations endpoints and the stop,
// the password shows in no log line, error, metric or endpoint response,
// while the redacted connection string does.
func TestBinaryKeepsCredentialsOutOfOutput(t *testing.T) {
	const password = "Sup3r-S3cret!pw"
	for _, c := range []struct {
		name    string
		options string
		logged  string // the line that shows the connector was reached
	}{
		{"accepted", "?authMechanism=PLAIN&authSource=%24external", `"msg":"mongodb sink open"`},
		{"rejected", "", `"level":"ERROR"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := startBroker(t)
			env, coll := sinkEnv(t, b.URL(), mongotest.URI(t))
			scheme, hosts, _ := strings.Cut(env["MONGODB_CONNECTION_STRING"], "://")
			env["MONGODB_CONNECTION_STRING"] = scheme + "://sink:" + url.QueryEscape(password) + "@" + hosts + c.options
			p := startBinary(t, env)

			p.waitFor("the binary has reached MongoDB", func() bool { return strings.Contains(p.output.String(), c.logged) })
			payloads := testdata.Lines(t, "accounts.ejson")[:20]
			publish(t, b.URL(), testTopic, payloads)
			if c.name == "accepted" {
				p.waitFor("every message is written", func() bool { return countDocuments(t, coll) == int64(len(payloads)) })
			}
			_, ready := p.get("/readyz")
			_, live := p.get("/healthz")
			_, metrics := p.get("/metrics")
			p.signal(syscall.SIGTERM)
			if code := p.wait(); code != lifecycle.ExitOK {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}

			everything := p.output.String() + ready + live + metrics
			for _, secret := range []string{password, url.QueryEscape(password), "//sink:"} {
				if strings.Contains(everything, secret) {
					t.Errorf("the output shows %q", secret)
				}
			}
			if !strings.Contains(p.output.String(), "mongodb://xxxxx@") {
				t.Error("the output never shows the redacted connection string: the test did not reach the code that logs it")
			}
		})
	}
}

// TestBinarySecondSignalForcesStop stops MongoDB so that the drain cannot
// finish, then sends SIGTERM twice: the second signal forces the stop, the
// process exits with 128+15, and what the broker counts as acknowledged is
// in MongoDB. Once MongoDB is back, a second run writes the rest, each
// message exactly once.
func TestBinarySecondSignalForcesStop(t *testing.T) {
	if mongotest.Real() {
		t.Skip("stops and restarts its MongoDB server, which only the embedded server allows")
	}
	payloads := testdata.Lines(t, "accounts.ejson")[:600]
	b := startBroker(t)
	srv := mongotest.StartServer(t, "")
	env, coll := sinkEnv(t, b.URL(), srv.URI())
	env["DRAIN_TIMEOUT_MS"] = "120000"
	p := startBinary(t, env)
	p.waitStatus("/readyz", http.StatusOK)

	publish(t, b.URL(), testTopic, payloads[:300])
	p.waitFor("the first messages are written", func() bool { return countDocuments(t, coll) == 300 })
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop MongoDB: %v", err)
	}
	publish(t, b.URL(), testTopic, payloads[300:])
	p.waitStatus("/readyz", http.StatusServiceUnavailable)

	p.signal(syscall.SIGTERM)
	p.waitFor("the drain has begun", func() bool {
		return len(p.logLines("stopping: draining what is in flight; a second signal forces the stop")) > 0
	})
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit status %d after a second SIGTERM, want %d", code, 128+int(syscall.SIGTERM))
	}

	if err := srv.Restart(); err != nil {
		t.Fatalf("restart MongoDB: %v", err)
	}
	stored := storedIDs(t, coll)
	st, _ := b.Subscription(testTopic, testConnector)
	for offset := int64(0); offset <= st.Cursor; offset++ {
		if !stored[storedID(t, b, offset)] {
			t.Errorf("offset %d is acknowledged but not in MongoDB", offset)
		}
	}

	second := startBinary(t, env)
	second.waitFor("every message is written", func() bool { return countDocuments(t, coll) >= int64(len(payloads)) })
	second.signal(syscall.SIGTERM)
	if code := second.wait(); code != lifecycle.ExitOK {
		t.Fatalf("second run: exit status %d after SIGTERM, want 0", code)
	}
	if got := countDocuments(t, coll); got != int64(len(payloads)) {
		t.Errorf("collection holds %d documents, want each of the %d messages once", got, len(payloads))
	}
}

// storedID returns the deterministic _id of the message at offset of
// testTopic, with the publish time that the broker stored for it.
func storedID(t *testing.T, b *danubetest.Broker, offset int64) string {
	t.Helper()
	msgs := b.Messages(testTopic)
	if offset >= int64(len(msgs)) {
		t.Fatalf("the broker holds %d messages of %s, none at offset %d", len(msgs), testTopic, offset)
	}
	return fmt.Sprintf("%s:0:%d:%d", testTopic, offset, msgs[offset].PublishTime.UnixMilli())
}
