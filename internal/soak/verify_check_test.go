package soak

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// The tests below pin the check itself: each breaks one rule in an end
// state that is otherwise complete, and expects verify to name the
// message.

// smallDataset returns three valid records and one poison record.
func smallDataset() *dataset {
	return &dataset{items: []item{
		{seq: 0, payload: []byte(`{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"n":{"$numberInt":"1"}}`), origin: "sample.ejson line 1", collection: collectionName},
		{seq: 1, payload: []byte(`{"seq":1,"bucket":"events_01"}`), origin: "generated", collection: "events_01"},
		{seq: 2, payload: []byte(`not json`), origin: "poison (text)", poison: poisonText},
		{seq: 3, payload: []byte(`{"seq":3,"at":{"$date":{"$numberLong":"1600000000000"}}}`), origin: "generated", collection: collectionName},
	}}
}

// message returns the broker message of seq at offset.
func message(data *dataset, seq int, offset uint64) danubetest.Message {
	return danubetest.Message{Offset: offset, Payload: data.items[seq].payload, Attributes: map[string]string{attrSeq: strconv.Itoa(seq)}}
}

// document returns the document the sink writes for the message of seq
// at pos, in the record's collection: the payload's fields without its
// _id, the deterministic _id and the metadata with the message's
// attributes.
func document(t *testing.T, data *dataset, seq int, pos position) storedDocument {
	t.Helper()
	var fields bson.D
	if err := bson.UnmarshalExtJSON(data.items[seq].payload, false, &fields); err != nil {
		t.Fatal(err)
	}
	doc := bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%d:%d:0", soakTopic, pos.partition, pos.offset)}}
	for _, e := range fields {
		if e.Key != "_id" {
			doc = append(doc, e)
		}
	}
	doc = append(doc, bson.E{Key: "_danube", Value: bson.D{
		{Key: "topic", Value: soakTopic},
		{Key: "attributes", Value: bson.D{{Key: attrSeq, Value: strconv.Itoa(seq)}}},
	}})
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return storedDocument{collection: data.items[seq].collection, doc: raw}
}

// deadLetter returns the sink's dead letter of the message at pos.
func deadLetter(data *dataset, seq int, pos position, offset uint64) danubetest.Message {
	return danubetest.Message{Offset: offset, Payload: data.items[seq].payload, Attributes: map[string]string{
		attrSeq:                       strconv.Itoa(seq),
		sink.AttrOriginalTopic:        partitionTopic(pos.partition),
		sink.AttrOriginalOffset:       strconv.FormatUint(pos.offset, 10),
		sink.AttrFailureReason:        "payload is not a JSON object",
		sink.AttrOriginalBaseTopic:    soakTopic,
		sink.AttrOriginalPartition:    strconv.Itoa(pos.partition),
		sink.AttrConnector:            connectorName,
		sink.AttrOriginalSubscription: subscription,
	}}
}

// completeRun returns the end state of a run that lost nothing: records
// 0 and 2 on partition 0, 1 and 3 on partition 1.
func completeRun(t *testing.T, data *dataset) *observed {
	t.Helper()
	return &observed{
		partitions: [][]danubetest.Message{
			{message(data, 0, 0), message(data, 2, 1)},
			{message(data, 1, 0), message(data, 3, 1)},
		},
		deadLetters: []danubetest.Message{deadLetter(data, 2, position{0, 1}, 0)},
		documents: []storedDocument{
			document(t, data, 0, position{0, 0}),
			document(t, data, 1, position{1, 0}),
			document(t, data, 3, position{1, 1}),
		},
	}
}

// oneLine asserts that lines has one entry containing every one of want.
func oneLine(t *testing.T, rule string, lines []string, want ...string) {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("%s: %d entries %q, want 1", rule, len(lines), lines)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("%s: %q does not name %q", rule, lines[0], w)
		}
	}
}

func TestVerifyAcceptsCompleteRun(t *testing.T) {
	data := smallDataset()
	v := verify(data, completeRun(t, data))

	if v.failed() {
		t.Fatalf("verify failed a complete run: lost %q, duplicates %q, misplaced %q, mismatched %q", v.lost, v.duplicates, v.misplaced, v.mismatched)
	}
	if v.documents != 3 || v.deadLetters != 1 || v.stored != 4 || v.valid != 3 || v.poison != 1 {
		t.Errorf("counts: documents %d, dead letters %d, stored %d, valid %d, poison %d; want 3, 1, 4, 3, 1",
			v.documents, v.deadLetters, v.stored, v.valid, v.poison)
	}
	if v.reasons["payload is not a JSON object"] != 1 {
		t.Errorf("reasons %v, want one dead letter for a payload that is not a JSON object", v.reasons)
	}
}

func TestVerifyReportsMissingDocument(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.documents = obs.documents[:2] // the document of seq 3 is gone

	v := verify(data, obs)
	oneLine(t, "lost", v.lost, "partition 1 offset 1", "seq 3", "no document")
}

func TestVerifyReportsPoisonWithoutDeadLetter(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.deadLetters = nil

	v := verify(data, obs)
	oneLine(t, "lost", v.lost, "partition 0 offset 1", "seq 2", "poison (text)", "not in the dead-letter topic")
}

func TestVerifyReportsRecordNeverStored(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.partitions[1] = obs.partitions[1][:1] // seq 3 never reached the broker
	obs.documents = obs.documents[:2]

	v := verify(data, obs)
	oneLine(t, "lost", v.lost, "seq 3", "never stored by the broker")
}

func TestVerifyReportsRecordStoredTwiceAsDuplicate(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.partitions[0] = append(obs.partitions[0], message(data, 1, 2))
	obs.documents = append(obs.documents, document(t, data, 1, position{0, 2}))

	v := verify(data, obs)
	oneLine(t, "duplicates", v.duplicates, "seq 1", "2 documents", "stored the record 2 times")
	if v.storedTwice != 1 {
		t.Errorf("stored twice %d, want 1", v.storedTwice)
	}
}

func TestVerifyReportsDocumentsWithoutSource(t *testing.T) {
	tests := []struct {
		name string
		doc  bson.D
		want string
	}{
		{"driver id", bson.D{{Key: "_id", Value: bson.NewObjectID()}}, "not a deterministic id"},
		{"no broker message there", bson.D{{Key: "_id", Value: soakTopic + ":0:99:0"}}, "the broker has no message there"},
		{"other topic", bson.D{{Key: "_id", Value: "/default/other:0:1:0"}}, "is not " + soakTopic},
		{"wrong record", bson.D{{Key: "_id", Value: soakTopic + ":1:0:0"}, {Key: "_danube", Value: bson.D{{Key: "attributes", Value: bson.D{{Key: attrSeq, Value: "3"}}}}}}, `carries soak_seq="3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := smallDataset()
			obs := completeRun(t, data)
			raw, err := bson.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			obs.documents = append(obs.documents, storedDocument{collection: collectionName, doc: raw})

			v := verify(data, obs)
			oneLine(t, "duplicates", v.duplicates, tt.want)
		})
	}
}

func TestVerifyReportsValidRecordInDeadLetters(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.documents = obs.documents[1:] // seq 0 was dead-lettered instead
	obs.deadLetters = append(obs.deadLetters, deadLetter(data, 0, position{0, 0}, 1))

	v := verify(data, obs)
	oneLine(t, "misplaced", v.misplaced, "partition 0 offset 0", "seq 0", "sample.ejson line 1", "valid, but in the dead-letter topic")
	if len(v.lost) != 0 {
		t.Errorf("lost %q, want none: the record is reported as misplaced", v.lost)
	}
}

func TestVerifyReportsBrokerDeadLetter(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.deadLetters[0].Attributes[danubetest.AttrPoisonPolicy] = "dead_letter"

	v := verify(data, obs)
	oneLine(t, "misplaced", v.misplaced, "seq 2", "dead-lettered by the broker")
	if v.reasons["broker poison policy: payload is not a JSON object"] != 1 {
		t.Errorf("reasons %v, want the broker's dead letter under its own row", v.reasons)
	}
}

func TestVerifyReportsPoisonStoredAsDocument(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	raw, err := bson.Marshal(bson.D{
		{Key: "_id", Value: soakTopic + ":0:1:0"},
		{Key: "payload", Value: bson.Binary{Data: data.items[2].payload}},
		{Key: "_danube", Value: bson.D{{Key: "attributes", Value: bson.D{{Key: attrSeq, Value: "2"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	obs.documents = append(obs.documents, storedDocument{collection: collectionName, doc: raw})

	v := verify(data, obs)
	oneLine(t, "misplaced", v.misplaced, "seq 2", "poison stored in MongoDB")
}

func TestVerifyReportsChangedDocument(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	changed := *data
	changed.items = append([]item(nil), data.items...)
	changed.items[3].payload = []byte(`{"seq":{"$numberLong":"3"},"at":{"$date":{"$numberLong":"1600000000000"}}}`)
	obs.documents[2] = document(t, &changed, 3, position{1, 1}) // seq is an int64 where the record has an int32

	v := verify(data, obs)
	oneLine(t, "mismatched", v.mismatched, "seq 3", `field 0 ("seq")`)
}

func TestVerifyReportsDocumentInWrongCollection(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.documents[1].collection = "events_07" // seq 1 belongs in events_01

	v := verify(data, obs)
	oneLine(t, "mismatched", v.mismatched, "seq 1", "in collection events_07", "belongs in events_01")
}

func TestVerifyReportsDocumentInTwoCollections(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	copied := obs.documents[1]
	copied.collection = "events_07"
	obs.documents = append(obs.documents, copied)

	v := verify(data, obs)
	oneLine(t, "duplicates", v.duplicates, "seq 1", "stored twice, in collections events_01 and events_07")
}

func TestVerifyCountsRepeatedDeadLetters(t *testing.T) {
	data := smallDataset()
	obs := completeRun(t, data)
	obs.deadLetters = append(obs.deadLetters, deadLetter(data, 2, position{0, 1}, 1))

	v := verify(data, obs)
	if v.failed() {
		t.Errorf("verify failed on a repeated dead letter, which at-least-once delivery allows: misplaced %q", v.misplaced)
	}
	if v.deadLetterRepeats != 1 {
		t.Errorf("repeated dead letters %d, want 1", v.deadLetterRepeats)
	}
}

func TestParseDeterministicID(t *testing.T) {
	tests := []struct {
		id      string
		want    position
		wantErr bool
	}{
		{id: soakTopic + ":0:0:1796452200000", want: position{0, 0}},
		{id: soakTopic + ":1:123456:0", want: position{1, 123456}},
		{id: soakTopic + ":2:1:0", wantErr: true},
		{id: soakTopic + ":x:1:0", wantErr: true},
		{id: soakTopic + ":0:-1:0", wantErr: true},
		{id: soakTopic + ":0:1:x", wantErr: true},
		{id: soakTopic + ":0:1", wantErr: true},
		{id: "/default/other:0:1:0", wantErr: true},
		{id: "no-colons", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseDeterministicID(tt.id)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseDeterministicID(%q) = %v, want an error", tt.id, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDeterministicID(%q) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
}
