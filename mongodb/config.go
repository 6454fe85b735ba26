package mongodb

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteModel is the kind of write the sink makes of a record: insert,
// replace or update.
type WriteModel string

const (
	// WriteInsert inserts the document. When a document with its _id
	// exists, the sink reads it back. If it is the same document, the
	// record was written before (a redelivery) and counts as written.
	// Otherwise the record is invalid data.
	WriteInsert WriteModel = "insert"
	// WriteReplace replaces the document with the same _id, or inserts it
	// (an upsert): the last write wins.
	WriteReplace WriteModel = "replace"
	// WriteUpdate sets the document's fields on the document with the same
	// _id ($set), or inserts it: fields the message does not carry are
	// kept.
	WriteUpdate WriteModel = "update"
)

// IDStrategy is the source of a document's _id.
type IDStrategy string

const (
	// IDDriver keeps the payload's _id and otherwise gives the document a
	// new ObjectId. A redelivered message then becomes a second document.
	IDDriver IDStrategy = "driver"
	// IDKey takes the _id from the message's routing key, as a string.
	IDKey IDStrategy = "key"
	// IDAttribute takes the _id from the message attribute named by
	// Config.IDField, as a string.
	IDAttribute IDStrategy = "attribute"
	// IDField takes the _id from the payload field at the dotted path
	// Config.IDField, with its BSON type.
	IDField IDStrategy = "field"
	// IDDeterministic derives the _id from the message's position and
	// publish time, as the string "<topic>:<partition>:<offset>:<publish
	// time>" with the time in Unix milliseconds, for example
	// "/default/orders:2:1041:1796452200000". A redelivered message gets the
	// same _id, because the broker stores the publish time with the
	// message, so it overwrites or matches its earlier copy instead of
	// duplicating it. It needs a reliable topic: offsets are all 0 on other
	// topics.
	//
	// The publish time distinguishes the messages at one offset of a topic
	// that was deleted and created again, or of broker v0.15.1, which starts
	// offsets over after a restart. NOTE: two such messages published in
	// the same millisecond still share an _id.
	IDDeterministic IDStrategy = "deterministic"
)

// NonJSONPolicy is the treatment of a payload that is not a JSON object.
type NonJSONPolicy string

const (
	// NonJSONStore stores the payload in the document field named by
	// Config.PayloadField, next to the message metadata. A JSON value that
	// is not an object (an array, a string, a number) is stored as that
	// value. Anything else is stored as binary data (subtype 0) with the
	// exact bytes.
	NonJSONStore NonJSONPolicy = "store"
	// NonJSONReject reports the record as invalid data, so that the runtime
	// sends it to the dead-letter topic.
	NonJSONReject NonJSONPolicy = "reject"
)

// Defaults of Config. An empty or zero field takes its default.
const (
	DefaultWriteModel    = WriteInsert
	DefaultIDStrategy    = IDDeterministic
	DefaultMetadataField = "_danube"
	DefaultNonJSON       = NonJSONStore
	DefaultPayloadField  = "payload"
	DefaultDeleteValue   = "delete"
	DefaultTimeout       = 30 * time.Second
)

// Config configures a Sink. It is read from YAML (the keys are the yaml
// tags) or from the environment (see ApplyEnv). Validate reports every
// problem at once. The zero value of each optional field means its default.
type Config struct {
	// ConnectionString is the MongoDB connection string, for example
	// mongodb://user:password@host:27017/?replicaSet=rs0. It may carry
	// credentials, which the sink never logs or puts in an error. A write
	// concern of w=0 is rejected. Required.
	ConnectionString string `yaml:"connection_string"`
	// Database is the database the sink writes to. Required.
	Database string `yaml:"database"`
	// Collection is the collection for records that no other rule routes.
	// Required.
	Collection string `yaml:"collection"`
	// Collections maps a topic (without partition suffix, for example
	// /default/orders) to its collection. In the environment it is a
	// comma-separated list of topic=collection pairs, such as
	// /shop/orders=orders,/shop/returns=returns, which replaces the whole
	// map.
	Collections map[string]string `yaml:"collections"`
	// CollectionField is the dotted path of a payload field whose string
	// value names the record's collection. It takes precedence over
	// Collections; a record whose payload lacks the field is routed by
	// topic.
	CollectionField string `yaml:"collection_field"`

	// WriteModel is insert (the default), replace or update.
	WriteModel WriteModel `yaml:"write_model"`
	// OrderedInserts sends each bulk write ordered: the server stops at
	// the first document it cannot write, and the sink reports every
	// later document of the collection as retryable rather than sending it
	// past a transient failure. Set it when a topic carries several writes
	// to the same document, so that a retry never reorders them. The sink
	// still writes past a document that is invalid data or already
	// written, by sending the rest again. Unordered (the default) lets
	// the server write past any failure.
	OrderedInserts bool `yaml:"ordered_inserts"`

	// IDStrategy is the source of the _id: deterministic (the default),
	// driver, key, attribute or field.
	IDStrategy IDStrategy `yaml:"id_strategy"`
	// IDField is the attribute name for the attribute strategy, or the
	// dotted payload path for the field strategy. Setting it without an
	// IDStrategy selects the attribute strategy.
	IDField string `yaml:"id_field"`
	// IDOverwrite lets the strategy replace an _id the payload carries. By
	// default a payload's own _id is kept, and the strategy gives an _id
	// only to documents without one. With IDOverwrite the payload's _id
	// value is dropped.
	IDOverwrite bool `yaml:"id_overwrite"`

	// MetadataField is the top-level field that holds the message
	// metadata as a sub-document: topic, partition, offset, producer,
	// publish_time, key and attributes. Default _danube.
	MetadataField string `yaml:"metadata_field"`
	// OmitMetadata leaves the metadata out of the documents.
	OmitMetadata bool `yaml:"omit_metadata"`
	// TimestampField, when set, names a top-level field that receives the
	// message's publish time as a BSON date. The publish time, not the
	// write time, so that a redelivered message yields the same document.
	TimestampField string `yaml:"timestamp_field"`

	// NonJSON is store (the default) or reject.
	NonJSON NonJSONPolicy `yaml:"non_json"`
	// PayloadField is the field that holds a payload that is not a JSON
	// object, under the store policy. Default payload.
	PayloadField string `yaml:"payload_field"`

	// DeleteAttribute names a message attribute that marks a delete: a
	// record whose attribute has the value DeleteValue deletes the
	// document with its _id. Empty disables deletes by attribute.
	DeleteAttribute string `yaml:"delete_attribute"`
	// DeleteValue is the DeleteAttribute value that means delete. Default
	// delete.
	DeleteValue string `yaml:"delete_value"`
	// DeleteOnEmptyPayload makes a record with an empty payload (a
	// tombstone) delete the document with its _id.
	DeleteOnEmptyPayload bool `yaml:"delete_on_empty_payload"`

	// WriteConcern is the write concern's w: majority, a number of nodes
	// from 1, or a tag set name. Empty keeps the connection string's or
	// the server's default. 0 is rejected: unacknowledged writes leave the
	// sink unable to know what was written.
	WriteConcern string `yaml:"write_concern"`
	// Timeout bounds each request the sink sends (a bulk write, a read
	// back, a ping), including server selection and the driver's retries,
	// within whatever deadline the caller's context has. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// withDefaults returns c with every empty optional field set to its
// default.
func (c Config) withDefaults() Config {
	if c.WriteModel == "" {
		c.WriteModel = DefaultWriteModel
	}
	if c.IDStrategy == "" {
		c.IDStrategy = DefaultIDStrategy
		if c.IDField != "" {
			c.IDStrategy = IDAttribute
		}
	}
	if c.MetadataField == "" {
		c.MetadataField = DefaultMetadataField
	}
	if c.NonJSON == "" {
		c.NonJSON = DefaultNonJSON
	}
	if c.PayloadField == "" {
		c.PayloadField = DefaultPayloadField
	}
	if c.DeleteValue == "" {
		c.DeleteValue = DefaultDeleteValue
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// ConfigError is one problem with a Config, naming its YAML key and its
// environment variable.
type ConfigError struct {
	// Key is the field's YAML key, such as database.
	Key string
	// Env is the environment variable that sets the field, such as
	// MONGODB_DATABASE, or empty for a field that has none.
	Env string
	// Problem states what is wrong and how to fix it, without the key. A
	// connection string in it has its credentials redacted.
	Problem string
}

func (e *ConfigError) Error() string {
	if e.Env == "" {
		return fmt.Sprintf("mongodb config %s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("mongodb config %s (%s): %s", e.Key, e.Env, e.Problem)
}

// Validate checks c, with defaults applied, and returns every problem it
// finds, joined, each a *ConfigError; nil when there is none. It parses
// the connection string with the Go driver, which reads the TLS files
// that the string names, but it does no network I/O: a mongodb+srv host
// is resolved only by Open.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	add := func(key, env, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Env: env, Problem: fmt.Sprintf(format, args...)})
	}

	if problem := checkConnectionString(c.ConnectionString); problem != "" {
		add("connection_string", EnvConnectionString, "%s", problem)
	}
	if c.Database == "" {
		add("database", EnvDatabase, "missing: set the database to write to")
	} else if problem := checkDatabaseName(c.Database); problem != "" {
		add("database", EnvDatabase, "%s", problem)
	}
	if c.Collection == "" {
		add("collection", EnvCollection, "missing: set the collection for records that no other rule routes")
	} else if problem := checkCollectionName(c.Database, c.Collection); problem != "" {
		add("collection", EnvCollection, "%s", problem)
	}
	for _, topic := range slices.Sorted(maps.Keys(c.Collections)) { // a stable order of problems
		coll := c.Collections[topic]
		if topic == "" {
			add("collections", EnvCollections, "a mapping has an empty topic")
		}
		if problem := checkCollectionName(c.Database, coll); problem != "" {
			add("collections", EnvCollections, "topic %s: %s", topic, problem)
		}
	}
	if c.CollectionField != "" {
		if problem := checkPath(c.CollectionField); problem != "" {
			add("collection_field", EnvCollectionField, "%s", problem)
		}
	}

	switch c.WriteModel {
	case WriteInsert, WriteReplace, WriteUpdate:
	default:
		add("write_model", EnvWriteModel, "%q is not one of insert, replace, update", c.WriteModel)
	}

	switch c.IDStrategy {
	case IDAttribute:
		if c.IDField == "" {
			add("id_field", EnvIDField, "missing: id_strategy attribute needs the name of the attribute")
		}
	case IDField:
		if c.IDField == "" {
			add("id_field", EnvIDField, "missing: id_strategy field needs the dotted path of the payload field")
		} else if problem := checkPath(c.IDField); problem != "" {
			add("id_field", EnvIDField, "%s", problem)
		}
	case IDDriver, IDKey, IDDeterministic:
		if c.IDField != "" {
			add("id_field", EnvIDField, "set to %q, but id_strategy %s does not use it", c.IDField, c.IDStrategy)
		}
	default:
		add("id_strategy", EnvIDStrategy, "%q is not one of deterministic, driver, key, attribute, field", c.IDStrategy)
	}

	names := map[string]string{}
	checkField := func(key, env, name string) {
		if problem := checkTopLevelName(name); problem != "" {
			add(key, env, "%s", problem)
			return
		}
		if other, ok := names[name]; ok {
			add(key, env, "%q is also the %s", name, other)
			return
		}
		names[name] = key
	}
	if !c.OmitMetadata {
		checkField("metadata_field", EnvMetadataField, c.MetadataField)
	}
	if c.TimestampField != "" {
		checkField("timestamp_field", EnvTimestampField, c.TimestampField)
	}

	switch c.NonJSON {
	case NonJSONStore:
		checkField("payload_field", EnvPayloadField, c.PayloadField)
	case NonJSONReject:
	default:
		add("non_json", EnvNonJSON, "%q is not one of store, reject", c.NonJSON)
	}

	deletes := c.DeleteAttribute != "" || c.DeleteOnEmptyPayload
	if deletes && c.IDStrategy == IDDriver {
		add("id_strategy", EnvIDStrategy, "driver gives a delete no _id to match: use key, attribute, field or deterministic with delete_attribute or delete_on_empty_payload")
	}
	if c.DeleteOnEmptyPayload && c.IDStrategy == IDField {
		add("delete_on_empty_payload", EnvDeleteOnEmptyPayload, "an empty payload has no field to take the _id from: use id_strategy key or attribute")
	}

	if problem := checkWriteConcern(c.WriteConcern); problem != "" {
		add("write_concern", EnvWriteConcern, "%s", problem)
	}
	if c.Timeout < 0 {
		add("timeout", EnvTimeout, "%v is negative", c.Timeout)
	}

	return errors.Join(errs...)
}

// checkConnectionString checks a connection string as the Go driver reads
// it, without resolving anything, and rejects w=0. Its result never
// contains the string's credentials or secret option values.
func checkConnectionString(s string) string {
	if s == "" {
		return "missing: set the MongoDB connection string, mongodb://host:27017/ for example"
	}
	parts, problem := splitURI(s)
	if problem != "" {
		return fmt.Sprintf("%s %s", RedactURI(s), problem)
	}
	if parts.scheme != "mongodb" && parts.scheme != "mongodb+srv" {
		return fmt.Sprintf("%s does not start with mongodb:// or mongodb+srv://", RedactURI(s))
	}

	for _, option := range splitOptions(parts.options) {
		key, value, _ := strings.Cut(option, "=")
		key, _ = url.QueryUnescape(key)
		value, _ = url.QueryUnescape(value)
		if strings.EqualFold(key, "w") && value == "0" {
			return "w=0 is not allowed: unacknowledged writes leave the sink unable to know which documents were written, which defeats at-least-once delivery; remove w=0 or set w=1 or w=majority"
		}
	}
	return checkDriverOptions(s, parts)
}

// checkWriteConcern checks the w value of Config.WriteConcern.
func checkWriteConcern(w string) string {
	if w == "" || w == "majority" {
		return ""
	}
	if n, err := strconv.Atoi(w); err == nil {
		switch {
		case n == 0:
			return "0 is not allowed: unacknowledged writes leave the sink unable to know which documents were written, which defeats at-least-once delivery; use 1 or majority"
		case n < 0:
			return fmt.Sprintf("%d is negative", n)
		}
	}
	return ""
}

// checkDatabaseName applies MongoDB's rules for database names.
func checkDatabaseName(name string) string {
	if len(name) >= 64 {
		return fmt.Sprintf("%q is %d bytes; MongoDB allows at most 63", name, len(name))
	}
	if i := strings.IndexAny(name, "/\\. \"$*<>:|?\x00"); i >= 0 {
		return fmt.Sprintf("%q contains %q, which MongoDB does not allow in a database name", name, name[i])
	}
	return ""
}

// maxNamespace is the longest database and collection name, joined by a
// dot, that MongoDB 4.4 and later accept.
const maxNamespace = 255

// checkCollectionName applies MongoDB's rules for collection names: not
// empty, no leading '.', no '$' or NUL, not in the system. prefix, and a
// namespace of at most maxNamespace bytes. Names are BSON strings, so they
// must be valid UTF-8 as well.
func checkCollectionName(database, name string) string {
	switch {
	case name == "":
		return "empty collection name"
	case !utf8.ValidString(name):
		return fmt.Sprintf("%q is not valid UTF-8", name)
	case strings.ContainsRune(name, 0):
		return fmt.Sprintf("%q contains a NUL character", name)
	case strings.Contains(name, "$"):
		return fmt.Sprintf("%q contains '$', which MongoDB does not allow in a collection name", name)
	case strings.HasPrefix(name, "."):
		return fmt.Sprintf("%q starts with '.', which MongoDB does not allow in a collection name", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Sprintf("%q starts with system., which MongoDB reserves", name)
	case len(database)+1+len(name) > maxNamespace:
		return fmt.Sprintf("%.40q... is %d bytes; MongoDB allows at most %d for database, dot and collection together", name, len(name), maxNamespace)
	}
	return ""
}

// checkPath checks a dotted field path.
func checkPath(path string) string {
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return fmt.Sprintf("%q has an empty part", path)
		}
	}
	if strings.ContainsRune(path, 0) {
		return fmt.Sprintf("%q contains a NUL character", path)
	}
	return ""
}

// checkTopLevelName checks a field name that the sink adds to every
// document.
func checkTopLevelName(name string) string {
	switch {
	case name == "":
		return "empty field name"
	case name == "_id":
		return "_id is the document's id, not a free field"
	case strings.HasPrefix(name, "$"):
		return fmt.Sprintf("%q starts with '$'", name)
	case strings.ContainsAny(name, ".\x00"):
		return fmt.Sprintf("%q contains '.' or a NUL character", name)
	}
	return ""
}
