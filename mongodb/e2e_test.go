package mongodb_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/internal/testdata"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// samplePayloads returns every line of every sample Extended JSON file.
func samplePayloads(t *testing.T) [][]byte {
	t.Helper()
	var payloads [][]byte
	for _, name := range testdata.ExtendedJSONFiles(t) {
		payloads = append(payloads, testdata.Lines(t, name)...)
	}
	return payloads
}

// TestEndToEndSampleFilesRoundTrip publishes every sample document through
// the broker and finds each stored equal to its source, field by field and
// type by type. Then it publishes the whole set again. The payload's _id
// names the same documents, so the second copies, whose metadata names
// later offsets, are recognised as written and acknowledged, and the
// collection holds no duplicate.
func TestEndToEndSampleFilesRoundTrip(t *testing.T) {
	sources := samplePayloads(t)
	modes(t, func(t *testing.T, ordered bool) {
		e := startE2E(t, e2eOptions{mongo: mongodb.Config{OrderedInserts: ordered}})

		e.publish(sources)
		e.waitSettled(len(sources))
		e.waitAcknowledged(len(sources))

		stored := e.storedByID()
		if len(stored) != len(sources) {
			t.Fatalf("collection holds %d documents, want %d", len(stored), len(sources))
		}
		for i, line := range sources {
			want := fromExtendedJSON(t, line)
			id := want.Lookup("_id").String()
			got, ok := stored[id]
			if !ok {
				t.Fatalf("source line %d (_id %s) is not stored", i, id)
			}
			if diff := mongodb.DocumentDiff("", want, got, mongodb.DefaultMetadataField); diff != "" {
				t.Fatalf("source line %d (_id %s): %s", i, id, diff)
			}
		}

		e.publish(sources)
		e.waitSettled(2 * len(sources))
		e.waitAcknowledged(2 * len(sources))

		if n := e.count(); n != int64(len(sources)) {
			t.Errorf("after publishing every document twice the collection holds %d documents, want %d", n, len(sources))
		}
		st := e.stats()
		if st.Acked != uint64(2*len(sources)) {
			t.Errorf("sink acked %d records, want %d", st.Acked, 2*len(sources))
		}
		if st.Nacked != 0 || st.DeadLettered != 0 {
			t.Errorf("sink nacked %d and dead-lettered %d records, want none", st.Nacked, st.DeadLettered)
		}
		if dl := e.deadLetters(); len(dl) != 0 {
			t.Errorf("dead-letter topic holds %d messages, want none; the first: %v", len(dl), dl[0].Attributes)
		}
	})
}

// TestEndToEndMetadataNamesItsMessage stores sample documents with the
// default metadata and finds, in each, the topic, offset, producer and
// publish time of the very message that carried the document.
func TestEndToEndMetadataNamesItsMessage(t *testing.T) {
	sources := testdata.Lines(t, "customers.ejson")
	e := startE2E(t, e2eOptions{})

	e.publish(sources)
	e.waitSettled(len(sources))

	published := e.broker.Messages(e2eTopic)
	stored := e.storedByID()
	if len(stored) != len(sources) {
		t.Fatalf("collection holds %d documents, want %d", len(stored), len(sources))
	}
	for i, line := range sources {
		want := fromExtendedJSON(t, line)
		id := want.Lookup("_id").String()
		got, ok := stored[id]
		if !ok {
			t.Fatalf("source line %d (_id %s) is not stored", i, id)
		}
		if diff := mongodb.DocumentDiff("", want, got, mongodb.DefaultMetadataField); diff != "" {
			t.Fatalf("source line %d (_id %s): %s", i, id, diff)
		}

		meta, ok := got.Lookup(mongodb.DefaultMetadataField).DocumentOK()
		if !ok {
			t.Fatalf("_id %s: no %s sub-document", id, mongodb.DefaultMetadataField)
		}
		if topic := meta.Lookup("topic").StringValue(); topic != e2eTopic {
			t.Errorf("_id %s: metadata topic %q, want %q", id, topic, e2eTopic)
		}
		if p := meta.Lookup("partition").Int32(); p != 0 {
			t.Errorf("_id %s: metadata partition %d, want 0", id, p)
		}
		offset := meta.Lookup("offset").Int64()
		if offset < 0 || offset >= int64(len(published)) {
			t.Fatalf("_id %s: metadata offset %d outside the %d published messages", id, offset, len(published))
		}
		msg := published[offset]
		if !bytes.Equal(msg.Payload, line) {
			t.Errorf("_id %s: the message at metadata offset %d carries another payload", id, offset)
		}
		if producer := meta.Lookup("producer").StringValue(); producer != msg.ProducerName {
			t.Errorf("_id %s: metadata producer %q, want %q", id, producer, msg.ProducerName)
		}
		if pt := meta.Lookup("publish_time").Time(); !pt.Equal(msg.PublishTime) {
			t.Errorf("_id %s: metadata publish_time %v, want the message's %v", id, pt, msg.PublishTime)
		}
	}
}

// TestEndToEndLostRepliesWriteOnce loses the reply of the first write of
// every batch, so that the runtime writes each batch a second time. With
// ids derived from the message position the second write finds the
// documents of the first and counts them as written: every record is
// acknowledged once, nothing is dead-lettered, and each message is stored
// once.
func TestEndToEndLostRepliesWriteOnce(t *testing.T) {
	sources := testdata.Lines(t, "accounts.ejson")
	modes(t, func(t *testing.T, ordered bool) {
		var wrapper *lostReply
		e := startE2E(t, e2eOptions{
			mongo: mongodb.Config{OrderedInserts: ordered, IDStrategy: mongodb.IDDeterministic, IDOverwrite: true},
			wrap: func(c sink.Connector) sink.Connector {
				wrapper = &lostReply{Connector: c, seen: map[uint64]bool{}}
				return wrapper
			},
		})

		e.publish(sources)
		e.waitSettled(len(sources))
		e.waitAcknowledged(len(sources))

		if wrapper.lostReplies() == 0 {
			t.Fatal("no reply was lost: the test exercised nothing")
		}
		st := e.stats()
		if st.Acked != uint64(len(sources)) || st.Nacked != 0 || st.DeadLettered != 0 {
			t.Errorf("sink acked %d, nacked %d, dead-lettered %d; want %d, 0, 0", st.Acked, st.Nacked, st.DeadLettered, len(sources))
		}
		e.checkDeterministic(len(sources))
	})
}

// TestEndToEndDeadLettersInvalidDocuments mixes invalid payloads into
// valid ones: each invalid one lands on the dead-letter topic with
// attributes naming its origin, and every valid one is written.
func TestEndToEndDeadLettersInvalidDocuments(t *testing.T) {
	valid := testdata.Lines(t, "accounts.ejson")[:300]
	invalid := map[string]string{
		`{"$bad": 1}`:                   "a top-level field name starting with '$'",
		"plain text, not JSON":          "a payload that is not JSON, under non_json reject",
		`{"n": {"$numberInt": "x1"}}`:   "an Extended JSON value that does not parse",
		`["an", "array", "of", "json"]`: "a JSON array, under non_json reject",
	}
	modes(t, func(t *testing.T, ordered bool) {
		e := startE2E(t, e2eOptions{mongo: mongodb.Config{OrderedInserts: ordered, NonJSON: mongodb.NonJSONReject}})

		var payloads [][]byte
		for i, line := range valid {
			payloads = append(payloads, line)
			if i%100 == 50 {
				for p := range invalid {
					payloads = append(payloads, []byte(p))
				}
			}
		}
		e.publish(payloads)
		e.waitSettled(len(payloads))
		e.waitAcknowledged(len(payloads))

		wantDead := len(payloads) - len(valid)
		st := e.stats()
		if st.Acked != uint64(len(valid)) || st.DeadLettered != uint64(wantDead) || st.Nacked != 0 {
			t.Errorf("sink acked %d, dead-lettered %d, nacked %d; want %d, %d, 0", st.Acked, st.DeadLettered, st.Nacked, len(valid), wantDead)
		}
		if n := e.count(); n != int64(len(valid)) {
			t.Errorf("collection holds %d documents, want the %d valid ones", n, len(valid))
		}

		published := e.broker.Messages(e2eTopic)
		dead := e.deadLetters()
		if len(dead) != wantDead {
			t.Fatalf("dead-letter topic holds %d messages, want %d", len(dead), wantDead)
		}
		for _, m := range dead {
			reason, ok := invalid[string(m.Payload)]
			if !ok {
				t.Errorf("dead-letter topic holds a payload that is valid: %.80s", m.Payload)
				continue
			}
			a := m.Attributes
			if a[sink.AttrOriginalTopic] != e2eTopic || a[sink.AttrOriginalSubscription] != e2eConnector || a[sink.AttrConnector] != e2eConnector {
				t.Errorf("dead letter of %s: origin attributes %v", reason, a)
			}
			offset, err := strconv.Atoi(a[sink.AttrOriginalOffset])
			if err != nil || offset >= len(published) || !bytes.Equal(published[offset].Payload, m.Payload) {
				t.Errorf("dead letter of %s: %s=%q does not name the message that carried it", reason, sink.AttrOriginalOffset, a[sink.AttrOriginalOffset])
			}
			if a[sink.AttrFailureReason] == "" {
				t.Errorf("dead letter of %s: no %s", reason, sink.AttrFailureReason)
			}
		}
	})
}

// TestEndToEndMongoRestartWritesOnce stops the MongoDB server while
// messages are on their way and starts it again: the sink retries, and
// once the server is back every message is stored exactly once, under its
// deterministic id, and acknowledged.
func TestEndToEndMongoRestartWritesOnce(t *testing.T) {
	if mongotest.Real() {
		t.Skip("stops and restarts its MongoDB server, which only the embedded server allows")
	}
	sources := testdata.Lines(t, "accounts.ejson")
	modes(t, func(t *testing.T, ordered bool) {
		srv := mongotest.StartServer(t, "")
		e := startE2E(t, e2eOptions{
			uri:   srv.URI(),
			mongo: mongodb.Config{OrderedInserts: ordered, IDStrategy: mongodb.IDDeterministic, IDOverwrite: true, Timeout: 2 * time.Second},
			runtime: func(c *sink.Config) {
				// Retry long enough to outlast the outage rather than
				// nack and wait out the broker's redelivery delays.
				c.MaxRetries = 100
				c.MaxBackoff = 100 * time.Millisecond
			},
		})

		half := len(sources) / 2
		e.publish(sources[:half])
		e.waitFor("some documents are written", func() bool { return e.stats().Acked > 0 })

		if err := srv.Stop(); err != nil {
			t.Fatalf("stop the MongoDB server: %v", err)
		}
		e.publish(sources[half:])
		e.waitFor("the sink reports the server unreachable", func() bool {
			return e.rt.Ready(t.Context()) != nil
		})
		if err := srv.Restart(); err != nil {
			t.Fatalf("restart the MongoDB server: %v", err)
		}

		e.waitSettled(len(sources))
		e.waitAcknowledged(len(sources))

		st := e.stats()
		if st.Acked != uint64(len(sources)) || st.Nacked != 0 || st.DeadLettered != 0 {
			t.Errorf("sink acked %d, nacked %d, dead-lettered %d; want %d, 0, 0", st.Acked, st.Nacked, st.DeadLettered, len(sources))
		}
		e.checkDeterministic(len(sources))
	})
}

// checkDeterministic checks that the collection holds exactly the first n
// messages of the topic, each once, under the _id that its position and
// publish time give it, and each equal to its payload apart from the _id and the
// metadata.
func (e *e2e) checkDeterministic(n int) {
	e.t.Helper()
	stored := e.storedByID()
	if len(stored) != n {
		e.t.Fatalf("collection holds %d documents, want %d", len(stored), n)
	}
	published := e.broker.Messages(e2eTopic)
	for offset := range n {
		id := fmt.Sprintf("%s:0:%d:%d", e2eTopic, offset, published[offset].PublishTime.UnixMilli())
		got, ok := stored[stringIDKey(e.t, id)]
		if !ok {
			e.t.Fatalf("no document with the deterministic _id %q", id)
		}
		want := fromExtendedJSON(e.t, published[offset].Payload)
		diff := mongodb.DocumentDiff("", withoutField(e.t, want, "_id"), withoutField(e.t, got, "_id"), mongodb.DefaultMetadataField)
		if diff != "" {
			e.t.Fatalf("_id %q: %s", id, diff)
		}
	}
}
