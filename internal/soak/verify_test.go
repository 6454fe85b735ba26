package soak

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// observed is the end state of a run: what the broker stored on each
// partition of the topic and on the dead-letter topic, and the documents
// in the collection.
type observed struct {
	partitions  [][]danubetest.Message
	deadLetters []danubetest.Message
	documents   []storedDocument
}

// storedDocument is a document with the collection it was read from.
type storedDocument struct {
	collection string
	doc        bson.Raw
}

// position is a message's place on the broker.
type position struct {
	partition int
	offset    uint64
}

func (p position) String() string {
	return fmt.Sprintf("%s partition %d offset %d", soakTopic, p.partition, p.offset)
}

// verdict is the outcome of the check: the counts of the final table, and
// one line for every message or document that breaks a rule.
type verdict struct {
	published   int // records of the dataset
	valid       int
	poison      int
	stored      int // messages the broker stored on the topic
	storedTwice int // of those, repeats of a record already stored
	documents   int
	collections int // collections that hold documents
	deadLetters int
	// reasons counts the dead letters by reason, with every number
	// replaced by N so that one reason is one row.
	reasons map[string]int
	// deadLetterRepeats counts dead letters beyond the first of one
	// message: a sink stopped after it published a dead letter and before
	// its acknowledgement reached the broker publishes it again.
	deadLetterRepeats int

	// lost names every record with no document and no dead letter where
	// it belongs: a valid record without its document, a poison record
	// without its dead letter, a record the broker never stored.
	lost []string
	// duplicates names every document beyond one per record, and every
	// document with no source message.
	duplicates []string
	// misplaced names valid records in the dead-letter topic, poison
	// stored as a document, and dead letters with no source message.
	misplaced []string
	// mismatched names documents whose fields differ from their record's.
	mismatched []string
}

// failed reports whether the verdict breaks any rule.
func (v *verdict) failed() bool {
	return len(v.lost)+len(v.duplicates)+len(v.misplaced)+len(v.mismatched) > 0
}

// digits matches a run of digits, which reasonKey replaces.
var digits = regexp.MustCompile(`[0-9]+`)

// reasonKey returns the row of the reason table that a dead letter's
// reason belongs to.
func reasonKey(reason string, byBroker bool) string {
	key := digits.ReplaceAllString(reason, "N")
	if len(key) > 110 {
		key = key[:110] + "..."
	}
	if byBroker {
		key = "broker poison policy: " + key
	}
	return key
}

// verify checks obs against the dataset: every record reaches MongoDB
// once if it is valid, or the dead-letter topic if it is poison, and
// nothing else is there.
func verify(data *dataset, obs *observed) *verdict {
	v := &verdict{published: len(data.items), reasons: map[string]int{}}
	v.valid, v.poison = data.counts()

	// Trace every broker message back to its record.
	seqAt := map[position]int{}
	copies := make([][]position, len(data.items))
	for part, msgs := range obs.partitions {
		for _, m := range msgs {
			pos := position{partition: part, offset: m.Offset}
			v.stored++
			seq, err := strconv.Atoi(m.Attributes[attrSeq])
			if err != nil || seq < 0 || seq >= len(data.items) {
				v.misplaced = append(v.misplaced, fmt.Sprintf("%v: a message with no record of the dataset (%s=%q)", pos, attrSeq, m.Attributes[attrSeq]))
				continue
			}
			seqAt[pos] = seq
			copies[seq] = append(copies[seq], pos)
		}
	}
	for seq, c := range copies {
		switch {
		case len(c) == 0:
			v.lost = append(v.lost, fmt.Sprintf("%s: never stored by the broker", data.describe(seq)))
		case len(c) > 1:
			v.storedTwice += len(c) - 1
		}
	}

	documentAt := checkDocuments(data, obs.documents, seqAt, v)
	deadAt := checkDeadLetters(data, obs.deadLetters, seqAt, v)

	// Every stored message must have landed where its record belongs.
	for part, msgs := range obs.partitions {
		for _, m := range msgs {
			pos := position{partition: part, offset: m.Offset}
			seq, ok := seqAt[pos]
			if !ok {
				continue
			}
			it := &data.items[seq]
			_, stored := documentAt[pos]
			dead := deadAt[pos]
			switch {
			case it.poison == "" && !stored && dead > 0:
				v.misplaced = append(v.misplaced, fmt.Sprintf("%v (%s): valid, but in the dead-letter topic instead of MongoDB", pos, data.describe(seq)))
			case it.poison == "" && !stored:
				v.lost = append(v.lost, fmt.Sprintf("%v (%s): no document", pos, data.describe(seq)))
			case it.poison != "" && dead == 0:
				v.lost = append(v.lost, fmt.Sprintf("%v (%s): poison, but not in the dead-letter topic", pos, data.describe(seq)))
			}
		}
	}

	// A record the broker stored twice yields two documents under two
	// ids: a duplicate for a reader of the collection, though each message
	// was written once.
	for seq, c := range copies {
		if len(c) < 2 || data.items[seq].poison != "" {
			continue
		}
		var ids []string
		for _, pos := range c {
			if _, ok := documentAt[pos]; ok {
				ids = append(ids, pos.String())
			}
		}
		if len(ids) > 1 {
			v.duplicates = append(v.duplicates, fmt.Sprintf("%s: %d documents, because the broker stored the record %d times (%s): the source published it again",
				data.describe(seq), len(ids), len(c), strings.Join(ids, "; ")))
		}
	}
	return v
}

// checkDocuments checks each document against the message its _id names
// and returns the positions that have a document.
func checkDocuments(data *dataset, docs []storedDocument, seqAt map[position]int, v *verdict) map[position]bool {
	documentAt := map[position]bool{}
	collectionAt := map[position]string{}
	collections := map[string]bool{}
	for _, stored := range docs {
		v.documents++
		collections[stored.collection] = true
		v.collections = len(collections)
		doc := stored.doc
		id, ok := doc.Lookup("_id").StringValueOK()
		if !ok {
			v.duplicates = append(v.duplicates, fmt.Sprintf("document with _id %v: no source message (not a deterministic id)", doc.Lookup("_id")))
			continue
		}
		pos, err := parseDeterministicID(id)
		if err != nil {
			v.duplicates = append(v.duplicates, fmt.Sprintf("document %q: no source message (%v)", id, err))
			continue
		}
		seq, ok := seqAt[pos]
		if !ok {
			v.duplicates = append(v.duplicates, fmt.Sprintf("document %q: no source message (the broker has no message there)", id))
			continue
		}
		if got, _ := doc.Lookup("_danube", "attributes", attrSeq).StringValueOK(); got != strconv.Itoa(seq) {
			v.duplicates = append(v.duplicates, fmt.Sprintf("document %q: carries %s=%q, but the message at %v is %s", id, attrSeq, got, pos, data.describe(seq)))
			continue
		}
		if first, twice := collectionAt[pos]; twice {
			v.duplicates = append(v.duplicates, fmt.Sprintf("document %q (%s): stored twice, in collections %s and %s", id, data.describe(seq), first, stored.collection))
			continue
		}
		documentAt[pos] = true
		collectionAt[pos] = stored.collection

		it := &data.items[seq]
		if it.poison != "" {
			v.misplaced = append(v.misplaced, fmt.Sprintf("document %q (%s): poison stored in MongoDB", id, data.describe(seq)))
			continue
		}
		if stored.collection != it.collection {
			v.mismatched = append(v.mismatched, fmt.Sprintf("document %q (%s): in collection %s, but its record belongs in %s", id, data.describe(seq), stored.collection, it.collection))
		}
		if problem := compareDocument(it.payload, doc); problem != "" {
			v.mismatched = append(v.mismatched, fmt.Sprintf("document %q (%s): %s", id, data.describe(seq), problem))
		}
	}
	return documentAt
}

// checkDeadLetters traces each dead letter back to its message, counts it
// by reason, and returns how many dead letters each position has.
func checkDeadLetters(data *dataset, letters []danubetest.Message, seqAt map[position]int, v *verdict) map[position]int {
	deadAt := map[position]int{}
	for _, m := range letters {
		v.deadLetters++
		_, byBroker := m.Attributes[danubetest.AttrPoisonPolicy]
		v.reasons[reasonKey(m.Attributes[sink.AttrFailureReason], byBroker)]++

		pos, err := originOf(m)
		if err != nil {
			v.misplaced = append(v.misplaced, fmt.Sprintf("dead letter at offset %d of %s: %v", m.Offset, deadLetterTopic, err))
			continue
		}
		seq, ok := seqAt[pos]
		if !ok {
			v.misplaced = append(v.misplaced, fmt.Sprintf("dead letter at offset %d of %s: names %v, where the broker has no message", m.Offset, deadLetterTopic, pos))
			continue
		}
		if byBroker {
			v.misplaced = append(v.misplaced, fmt.Sprintf("%v (%s): exhausted its redeliveries and was dead-lettered by the broker: %s",
				pos, data.describe(seq), m.Attributes[sink.AttrFailureReason]))
		}
		deadAt[pos]++
		if deadAt[pos] > 1 {
			v.deadLetterRepeats++
		}
	}
	return deadAt
}

// originOf returns the position a dead letter came from, from the
// attributes that the sink runtime and the broker both set.
func originOf(m danubetest.Message) (position, error) {
	topic := m.Attributes[sink.AttrOriginalTopic]
	offset, err := strconv.ParseUint(m.Attributes[sink.AttrOriginalOffset], 10, 64)
	if err != nil {
		return position{}, fmt.Errorf("invalid %s %q", sink.AttrOriginalOffset, m.Attributes[sink.AttrOriginalOffset])
	}
	for i := range soakPartitions {
		if topic == partitionTopic(i) {
			return position{partition: i, offset: offset}, nil
		}
	}
	return position{}, fmt.Errorf("%s %q is not a partition of %s", sink.AttrOriginalTopic, topic, soakTopic)
}

// parseDeterministicID returns the position that a deterministic _id,
// "<topic>:<partition>:<offset>:<publish time>", names.
func parseDeterministicID(id string) (position, error) {
	rest, publishText, ok1 := cutLast(id, ":")
	rest, offsetText, ok2 := cutLast(rest, ":")
	topic, partText, ok3 := cutLast(rest, ":")
	if !ok1 || !ok2 || !ok3 {
		return position{}, fmt.Errorf("not of the form <topic>:<partition>:<offset>:<publish time>")
	}
	if _, err := strconv.ParseUint(publishText, 10, 64); err != nil {
		return position{}, fmt.Errorf("invalid publish time %q", publishText)
	}
	if topic != soakTopic {
		return position{}, fmt.Errorf("topic %q is not %s", topic, soakTopic)
	}
	part, err := strconv.Atoi(partText)
	if err != nil || part < 0 || part >= soakPartitions {
		return position{}, fmt.Errorf("invalid partition %q", partText)
	}
	offset, err := strconv.ParseUint(offsetText, 10, 64)
	if err != nil {
		return position{}, fmt.Errorf("invalid offset %q", offsetText)
	}
	return position{partition: part, offset: offset}, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// compareDocument compares the fields of a stored document, without _id
// and the metadata, with those of the payload, without its _id, as the
// Go driver reads Extended JSON. It returns "" when they are equal, in
// value, BSON type and order, or else where they differ.
func compareDocument(payload []byte, doc bson.Raw) string {
	var want bson.D
	if err := bson.UnmarshalExtJSON(payload, false, &want); err != nil {
		return fmt.Sprintf("the payload does not parse as Extended JSON: %v", err)
	}
	filtered := want[:0]
	for _, e := range want {
		if e.Key != "_id" {
			filtered = append(filtered, e)
		}
	}
	wantRaw, err := bson.Marshal(filtered)
	if err != nil {
		return fmt.Sprintf("the payload does not marshal to BSON: %v", err)
	}
	wantElems, err := bson.Raw(wantRaw).Elements()
	if err != nil {
		return fmt.Sprintf("the payload's BSON is invalid: %v", err)
	}
	gotAll, err := doc.Elements()
	if err != nil {
		return fmt.Sprintf("the stored document is invalid BSON: %v", err)
	}
	var got []bson.RawElement
	for _, e := range gotAll {
		if k := e.Key(); k != "_id" && k != "_danube" {
			got = append(got, e)
		}
	}

	if len(got) != len(wantElems) {
		return fmt.Sprintf("%d fields, the record has %d", len(got), len(wantElems))
	}
	for i := range got {
		if !bytes.Equal(got[i], wantElems[i]) {
			return fmt.Sprintf("field %d (%q) is %v, the record has %v", i, got[i].Key(), got[i].Value(), wantElems[i].Value())
		}
	}
	return ""
}
