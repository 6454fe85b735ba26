package source

import "bytes"

// Checkpoint is a position in a connector's input, such as a byte offset
// in a file, a log sequence number or a cursor token. The runtime never
// reads its contents: it hands the connector back, through Commit and
// Open, the checkpoint of the last record that the broker acknowledged
// with every record before it.
//
// Checkpoints are ordered by the order in which the connector hands out
// the records that carry them: a later record carries a later position.
// Nil means no position, the start of the input. The runtime does not
// modify a Checkpoint, and the connector must not modify one it has
// handed out.
type Checkpoint []byte

// Equal reports whether c and other hold the same bytes.
func (c Checkpoint) Equal(other Checkpoint) bool { return bytes.Equal(c, other) }

// Record is one message that a source connector hands to the runtime, to
// be published to Danube.
//
// The runtime owns a record once the connector has handed it over: the
// connector must not modify its Payload, Attributes or Position after
// that.
type Record struct {
	// Payload is the message body.
	Payload []byte

	// Attributes are string key-value pairs sent with the message. The
	// runtime adds a W3C traceparent (and tracestate) to a copy of them
	// when tracing is configured, and never modifies this map.
	Attributes map[string]string

	// Key is the routing key. On a partitioned topic it selects the
	// partition (FNV-1a of the key modulo the partition count), so that
	// records with one key stay in one partition. "" spreads records over
	// the partitions in turn.
	Key string

	// Topic is the topic to publish to, "/namespace/name". "" means the
	// runtime's default topic (Options.Topic).
	Topic string

	// Position is the checkpoint from which the input resumes after this
	// record: for a file, the offset of the next unread byte. Once the
	// broker has acknowledged this record and every record handed out
	// before it, the runtime may commit Position. Nil means the record has
	// no position of its own. An example is the first of several records
	// made from one input item, of which only the last carries the
	// position. Such a record still holds the checkpoint back until it is
	// acknowledged.
	Position Checkpoint
}
