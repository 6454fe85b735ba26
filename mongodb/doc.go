// Package mongodb is a ready-made sink that writes Danube messages to
// MongoDB collections, fast, without loss and without duplicates.
//
// Sink implements sink.Connector: the sink runtime consumes a topic,
// gathers messages into batches and hands each batch to Sink.Write, which
// turns every record into a document and writes the batch in bulk. Write
// reports each record that was not written, marked with a class that
// selects the runtime's reaction: retry it, send it to the dead-letter
// topic, or stop.
// A record it does not name was written, and only then may the runtime
// acknowledge it. Config holds the settings, read from YAML or from the
// environment (Config.ApplyEnv); New validates them, Open connects.
//
// # Documents
//
// A payload in JSON or MongoDB Extended JSON (canonical or relaxed, as
// mongoexport writes it) becomes a document with the same values and BSON
// types: {"$oid"} an ObjectId, every {"$date"} form a date,
// {"$numberInt"} an int32, {"$numberLong"} an int64, {"$numberDouble"} a
// double, {"$numberDecimal"} a Decimal128, and so on for every type of the
// Extended JSON specification. A plain JSON integer becomes an int32 when
// it fits, an int64 when it fits, and a Decimal128 beyond that, so that no
// integer is ever rounded through a double; a number with a fraction or an
// exponent is a double. The conversion is a single pass over the payload
// into a reused buffer, without reflection.
//
// A payload that is not a JSON object is kept, under the store policy (the
// default), in the field named by Config.PayloadField: a JSON array,
// string, number or null as that value, anything else (text, bytes, broken
// JSON, an empty payload) as binary data holding the exact bytes. Under the
// reject policy it is invalid data, for the dead-letter topic.
//
// Each document gets the message metadata in a sub-document (default
// _danube): topic, partition, offset, producer, publish_time, key and
// attributes. Config.TimestampField adds the publish time as a top-level
// date. Both come from the message, never from the clock, so that every
// delivery of a message yields the same document.
//
// # Ids, write models and collections
//
// A payload's own _id is kept. For other documents, the id strategy gives
// one. Deterministic (the default) derives it from the message position
// and publish time, "<topic>:<partition>:<offset>:<publish time>", so a
// redelivered message matches its first copy. Key takes the routing key,
// attribute a message attribute, field a payload field at a dotted path
// with its BSON type, and driver a new ObjectId. Config.IDOverwrite makes the strategy win over a payload
// _id.
//
// The write model is insert, replace (an upsert by _id that replaces the
// document) or update (an upsert by _id that sets the message's fields). A
// record marked by an attribute (Config.DeleteAttribute), or with an empty
// payload (Config.DeleteOnEmptyPayload), deletes the document with its _id
// instead. A record goes to the collection named by a payload field
// (Config.CollectionField), else to its topic's collection
// (Config.Collections), else to Config.Collection.
//
// # Failures, record by record
//
// Records are grouped by collection; each group is sent as bulk writes
// that the driver sends as exactly one server command each (one per write
// kind in a row, within the server's count and size limits), so that
// every failure maps back to its records:
//
//   - A document over 16 MiB with its metadata, a top-level field name that
//     starts with '$', a field name with a NUL character, an _id of a type
//     MongoDB refuses, an Extended JSON value that does not parse, nesting
//     deeper than 100 levels, or a collection field naming a collection
//     that MongoDB does not allow is invalid data, found before sending;
//     the rest of the batch is written.
//   - A request that the server fails because it rejects the namespace
//     (InvalidNamespace, for a rule of the server's own) fails the records
//     of that collection as invalid data when a payload named it, and is
//     fatal when the configuration did; the other collections are written.
//   - A write error on one document is mapped by its code (see the table in
//     errors.go): invalid data for a bad document (validation failure, bad
//     field names, too large), retryable for a transient server state (not
//     primary, shutting down, write conflict), fatal for missing
//     permissions.
//   - A duplicate key on an insert is settled by reading the stored
//     document back: if it is the document the record makes, apart from the
//     metadata and timestamp fields, the record was written before, by an
//     earlier delivery or an earlier publication of the same payload, and
//     counts as written. Otherwise it is invalid data. With deterministic
//     ids, or any id the message carries, redelivery therefore never
//     duplicates a document and never ends in the dead-letter topic. The
//     read-back queries {_id: {$in: [...]}} for at most 100 ids at a time,
//     each within Config.Timeout. When one query fails, the records that
//     the earlier queries settled stay settled and the rest are retryable.
//   - A request that fails as a whole (a lost connection, a timeout, a
//     server that cannot be selected) leaves its records and the rest of the
//     batch retryable: none is known to be written.
//
// An ordered bulk write (Config.OrderedInserts) stops at the first document
// that fails; the documents before it are written. When that document
// needs no retry (invalid data, or already written), the sink sends the
// rest again; otherwise the rest of the collection's records are
// retryable, never acknowledged unwritten. Unordered writes go on past a
// failed document.
//
// # Delivery
//
// Together with the runtime, the sink writes every message at least once.
// With an _id that the message determines (deterministic, key, attribute,
// field or a payload _id) a repeated write is recognised or overwrites the
// same document, so the collection holds each message once. The driver
// strategy cannot recognise a repeat: a retry after a failure whose
// outcome is unknown may store a message twice. A write concern of w:0 is
// rejected, because unacknowledged writes would make every record look
// written. Credentials of the connection string never appear in a log line
// or an error.
//
// # FerretDB
//
// The tests run on FerretDB 1.24, embedded, unless MONGODB_URI names a
// MongoDB server. FerretDB differs in ways that reach the sink: it closes
// the connection on Decimal128, NaN, MinKey, MaxKey, DBPointer, Symbol,
// JavaScript code and Undefined values and on w:0 writes, which the sink
// can only report as retryable; it rejects field names with '$' or '.' at
// any depth, nested arrays, duplicate field names and infinite doubles
// with code 2 (invalid data), where MongoDB 5.0 and later store them; it
// stores -0.0 as 0.0; it accepts documents over 16 MiB; its duplicate key
// errors carry no key pattern; and it has no transactions, change streams,
// time-series or TTL collections, none of which the sink uses. Duplicate
// keys in ordered and unordered bulk inserts, and upserts by replace and
// update, behave as on MongoDB. On SQLite, FerretDB runs each read-back
// query after a duplicate key as a scan of the whole collection. On the
// embedded server (2-core machine), a query for 100 ids took 1.9 s in a
// collection of 40,000 documents, so give Config.Timeout room when a batch
// may be redelivered into a large collection.
package mongodb
