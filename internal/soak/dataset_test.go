package soak

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/testdata"
)

// attrSeq is the message attribute that carries a record's sequence
// number in the dataset, from which every stored document, broker message
// and dead letter is traced back to its source record.
const attrSeq = "soak_seq"

// The kinds of poison the dataset holds. Each is invalid data for a sink
// that runs with NON_JSON=reject, and must end in the dead-letter topic.
const (
	poisonText     = "text"     // plain text
	poisonBroken   = "broken"   // a JSON object cut short
	poisonArray    = "array"    // a JSON array, not an object
	poisonString   = "string"   // a JSON string
	poisonBinary   = "binary"   // random bytes
	poisonOversize = "oversize" // a JSON object over 16 MiB as BSON
)

// notJSONKinds are the poison kinds that are not JSON objects, used in
// turn.
var notJSONKinds = []string{poisonText, poisonBroken, poisonArray, poisonString, poisonBinary}

// oversizeElements is the length of the array of zeros in an oversize
// poison record. In JSON each element takes 2 bytes, so the payload is
// about 3.2 MB, below the 4 MiB that gRPC accepts in a message by
// default. In BSON each takes a type byte, its index as a key, a NUL and
// four bytes, so the document is about 19.7 MB, over MongoDB's 16 MiB
// limit.
const oversizeElements = 1_600_000

// Generated documents name their collection in the field bucketField,
// one of bucketCount collections, which the sink routes them by
// (MONGODB_COLLECTION_FIELD). The sample documents go to the default
// collection.
//
// The buckets keep each collection small, because the embedded server
// (FerretDB 1.24 on SQLite) reads every document of a collection to find
// documents by _id. The sink reads back the documents of every insert that
// hits a duplicate key, and in one collection of 100,000 documents each
// such read took seconds on a shared 2-core machine, while MongoDB uses
// its _id index. Each bucket holds a run of consecutive records, so that
// a batch touches one or two buckets: the sink sends a command per
// collection, and spreading every batch over all buckets made a Write of
// 500 records take up to 18 s there.
const (
	bucketField = "bucket"
	bucketCount = 32
)

// bucketOf returns the collection of the generated document seq of a
// dataset of total records.
func bucketOf(seq, total int) string {
	return fmt.Sprintf("%s_%02d", collectionName, seq*bucketCount/total)
}

// item is one record of the dataset.
type item struct {
	seq     int
	payload []byte
	// collection is the collection its document belongs in, "" for
	// poison.
	collection string
	// origin is where the record comes from: a sample file and line,
	// "generated", or "poison (<kind>)".
	origin string
	// poison is the poison kind, "" for a valid record.
	poison string
}

// dataset is every record the source publishes, in publish order; the
// index of a record is its sequence number.
type dataset struct {
	items []item
}

// buildDataset returns p.messages records drawn with rng: every document
// of the sample files (as many as fit), generated documents for the rest,
// and p.poison poison records, shuffled together.
func buildDataset(t *testing.T, p params, rng *rand.Rand) *dataset {
	t.Helper()

	valid := p.messages - p.poison
	var records []item
	files := testdata.ExtendedJSONFiles(t)
	sort.Strings(files)
	for _, name := range files {
		for i, line := range testdata.Lines(t, name) {
			if len(records) == valid {
				break
			}
			records = append(records, item{payload: line, origin: fmt.Sprintf("%s line %d", name, i+1)})
		}
	}
	for len(records) < valid {
		records = append(records, item{origin: "generated"})
	}
	for i := range p.poison {
		kind := notJSONKinds[i%len(notJSONKinds)]
		if i < p.oversize {
			kind = poisonOversize
		}
		records = append(records, item{poison: kind, origin: "poison (" + kind + ")"})
	}
	rng.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })

	for seq := range records {
		r := &records[seq]
		r.seq = seq
		switch {
		case r.poison != "":
			r.payload = poisonPayload(r.poison, seq, rng)
		case r.origin == "generated":
			r.collection = bucketOf(seq, len(records))
			r.payload = generatedPayload(seq, r.collection, rng)
		default:
			r.collection = collectionName
		}
	}
	return &dataset{items: records}
}

// generatedPayload returns a document in relaxed and canonical Extended
// JSON with a few BSON types, carrying seq.
func generatedPayload(seq int, collection string, rng *rand.Rand) []byte {
	tags := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"seq":%d,"kind":"generated","%s":"%s","name":"record-%d-%x"`, seq, bucketField, collection, seq, rng.Uint32())
	fmt.Fprintf(&b, `,"amount":{"$numberLong":"%d"}`, rng.Int64N(1<<50))
	fmt.Fprintf(&b, `,"count":{"$numberInt":"%d"}`, rng.Int32N(1<<30))
	fmt.Fprintf(&b, `,"ratio":%d.%03d`, rng.IntN(1000), rng.IntN(1000))
	fmt.Fprintf(&b, `,"at":{"$date":{"$numberLong":"%d"}}`, 1_600_000_000_000+rng.Int64N(200_000_000_000))
	b.WriteString(`,"tags":[`)
	for i := range 1 + rng.IntN(len(tags)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", tags[rng.IntN(len(tags))])
	}
	fmt.Fprintf(&b, `],"nested":{"active":%t,"note":"line one\nline two","level":%d}}`, rng.IntN(2) == 1, rng.IntN(10))
	return b.Bytes()
}

// poisonPayload returns a payload of the poison kind.
func poisonPayload(kind string, seq int, rng *rand.Rand) []byte {
	switch kind {
	case poisonText:
		return fmt.Appendf(nil, "poison record %d: plain text, not JSON", seq)
	case poisonBroken:
		return fmt.Appendf(nil, `{"seq":%d,"broken":{"cut":"here`, seq)
	case poisonArray:
		return fmt.Appendf(nil, `[%d,"an","array","is","not","a","document"]`, seq)
	case poisonString:
		return fmt.Appendf(nil, `"poison record %d as a JSON string"`, seq)
	case poisonBinary:
		b := make([]byte, 48)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[0] = 0xff // never '{', so it cannot open a JSON object
		return b
	case poisonOversize:
		var b bytes.Buffer
		b.Grow(2*oversizeElements + 64)
		fmt.Fprintf(&b, `{"seq":%d,"zeros":[0`, seq)
		for range oversizeElements - 1 {
			b.WriteString(",0")
		}
		b.WriteString("]}")
		return b.Bytes()
	}
	panic("unknown poison kind " + kind)
}

// describe names the record seq for a failure message: its sequence
// number and origin.
func (d *dataset) describe(seq int) string {
	if seq < 0 || seq >= len(d.items) {
		return fmt.Sprintf("seq %d (not in the dataset)", seq)
	}
	return fmt.Sprintf("seq %d, %s", seq, d.items[seq].origin)
}

// counts returns the number of valid records and of poison records.
func (d *dataset) counts() (valid, poison int) {
	for _, it := range d.items {
		if it.poison == "" {
			valid++
		} else {
			poison++
		}
	}
	return valid, poison
}
