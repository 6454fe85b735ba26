package mongodb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// MaxDocumentSize is the largest document, in bytes of BSON, that MongoDB
// stores (16 MiB). The sink checks it itself, after adding the _id and the
// metadata, because not every server enforces it: FerretDB 1.24 accepts
// larger documents.
const MaxDocumentSize = 16 * 1024 * 1024

// ErrNotJSONObject marks a payload that is not a JSON object, reported as
// invalid data under the reject policy for non-JSON payloads.
var ErrNotJSONObject = errors.New("payload is not a JSON object")

// Names of the fields of the metadata sub-document.
const (
	metaTopic       = "topic"
	metaPartition   = "partition"
	metaOffset      = "offset"
	metaProducer    = "producer"
	metaPublishTime = "publish_time"
	metaKey         = "key"
	metaAttributes  = "attributes"
)

// document is a record turned into what the sink sends for it.
type document struct {
	kind writeKind
	// collection is the name of the collection the record goes to.
	collection string
	// doc is the stored document, _id first: the insert document or the
	// replacement. For an update it is the {"$set": ...} document, and for
	// a delete it is nil.
	doc bson.Raw
	// filter is {"_id": id}, for every kind but insert.
	filter bson.Raw
	// id is the _id, a view into doc or filter.
	id bson.RawValue
}

// writeKind is the write a record becomes.
type writeKind uint8

const (
	kindInsert writeKind = iota
	kindReplace
	kindUpdate
	kindDelete
)

// command returns the server command that carries writes of kind k. Writes
// of one command go in one bulk request.
func (k writeKind) command() string {
	switch k {
	case kindInsert:
		return "insert"
	case kindDelete:
		return "delete"
	default:
		return "update"
	}
}

// builder turns records into documents. It holds the scratch space of the
// conversion and is reused from record to record; it is not safe for
// concurrent use.
type builder struct {
	cfg Config

	idPath         []string
	collectionPath []string

	conv     jsonConverter
	payload  []byte // the converted payload, a complete document
	keys     []string
	elements []int // offsets of the payload's top-level elements
}

func newBuilder(cfg Config) *builder {
	b := &builder{cfg: cfg}
	if cfg.IDStrategy == IDField {
		b.idPath = strings.Split(cfg.IDField, ".")
	}
	if cfg.CollectionField != "" {
		b.collectionPath = strings.Split(cfg.CollectionField, ".")
	}
	return b
}

// build turns r into a document, appending the bytes it sends to arena,
// and returns the extended arena. An error is the record's failure, marked
// with its class.
func (b *builder) build(r *sink.Record, arena []byte) (document, []byte, error) {
	var d document
	d.kind = b.kindOf(r)

	isObject, err := b.convertPayload(r, d.kind == kindDelete)
	if err != nil {
		return d, arena, sink.InvalidData(err)
	}

	if d.collection, err = b.collectionOf(r, isObject); err != nil {
		return d, arena, sink.InvalidData(err)
	}

	idStart := len(arena)
	arena, err = b.appendID(r, isObject, arena)
	if err != nil {
		return d, arena[:idStart], sink.InvalidData(err)
	}
	idElement := arena[idStart:]
	// An element is its type, the key "_id" with its NUL, then the value.
	const idHeader = 1 + len("_id") + 1
	idType := bson.Type(idElement[0])

	if d.kind != kindInsert {
		filterStart := len(arena)
		arena = binary.LittleEndian.AppendUint32(arena, uint32(4+len(idElement)+1))
		arena = append(arena, idElement...)
		arena = append(arena, 0)
		d.filter = bson.Raw(arena[filterStart:len(arena):len(arena)])
		d.id = bson.RawValue{Type: idType, Value: d.filter[4+idHeader : len(d.filter)-1]}
		if d.kind == kindDelete {
			return d, arena, nil
		}
	}

	docStart := len(arena)
	arena, err = b.appendDocument(r, idElement, arena)
	if err != nil {
		return d, arena[:idStart], sink.InvalidData(err)
	}
	d.doc = bson.Raw(arena[docStart:len(arena):len(arena)])

	switch d.kind {
	case kindInsert:
		d.id = bson.RawValue{Type: idType, Value: d.doc[4+idHeader : 4+len(idElement)]}
	case kindUpdate:
		// MongoDB takes the _id from the filter when the upsert inserts, and
		// $set may not change it, so the update sets every other field.
		updateStart := len(arena)
		arena = appendSetUpdate(arena, d.doc, len(idElement))
		d.doc = bson.Raw(arena[updateStart:len(arena):len(arena)])
	}
	return d, arena, nil
}

// kindOf returns the write that r becomes.
func (b *builder) kindOf(r *sink.Record) writeKind {
	if b.cfg.DeleteOnEmptyPayload && len(r.Payload) == 0 {
		return kindDelete
	}
	if b.cfg.DeleteAttribute != "" {
		if v, ok := r.Attributes[b.cfg.DeleteAttribute]; ok && v == b.cfg.DeleteValue {
			return kindDelete
		}
	}
	switch b.cfg.WriteModel {
	case WriteReplace:
		return kindReplace
	case WriteUpdate:
		return kindUpdate
	default:
		return kindInsert
	}
}

// convertPayload converts r's payload into b.payload and reports whether
// it is a JSON object. A payload that is not is wrapped in the payload
// field or rejected, following the non-JSON policy. For a delete, a
// payload that is not a JSON object is ignored: only an object can give a
// delete its _id or collection.
func (b *builder) convertPayload(r *sink.Record, isDelete bool) (bool, error) {
	b.payload = b.payload[:0]
	b.elements = b.elements[:0]
	if isDelete && len(r.Payload) == 0 {
		return false, nil
	}

	in := r.Payload
	start := 0
	for start < len(in) && (in[start] == ' ' || in[start] == '\t' || in[start] == '\n' || in[start] == '\r') {
		start++
	}

	var notJSON error
	if start < len(in) && in[start] == '{' {
		b.conv.reset(in, b.payload)
		err := b.conv.convertObject()
		b.payload = b.conv.out
		var syntax *syntaxError
		switch {
		case err == nil:
			b.elements = append(b.elements, b.conv.top...)
			return true, nil
		case errors.As(err, &syntax):
			notJSON = fmt.Errorf("%w: %v", ErrNotJSONObject, err)
		default:
			if isDelete {
				return false, nil
			}
			return false, err
		}
	} else {
		notJSON = ErrNotJSONObject
	}

	if isDelete {
		return false, nil
	}
	if b.cfg.NonJSON == NonJSONReject {
		return false, notJSON
	}

	// Store the payload in its field: a JSON value as that value, anything
	// else as binary data.
	b.payload = append(b.payload[:0], 0, 0, 0, 0)
	b.elements = append(b.elements, len(b.payload))
	mark := len(b.payload)
	if len(in) > 0 {
		b.conv.reset(in, b.payload)
		err := b.conv.convertValue(b.cfg.PayloadField)
		b.payload = b.conv.out
		var syntax *syntaxError
		switch {
		case err == nil:
			b.payload = closeDocument(b.payload, 0)
			return false, nil
		case !errors.As(err, &syntax):
			return false, err
		}
	}
	b.payload = append(b.payload[:mark], typeBinary)
	b.payload = append(b.payload, b.cfg.PayloadField...)
	b.payload = append(b.payload, 0)
	b.payload = appendBinary(b.payload, 0, in)
	b.payload = closeDocument(b.payload, 0)
	return false, nil
}

// collectionOf returns the collection of r: from the collection field of
// its payload when the payload is a JSON object with that field, else from
// its topic, else the default.
func (b *builder) collectionOf(r *sink.Record, isObject bool) (string, error) {
	if b.collectionPath != nil && isObject {
		v, err := bsoncore.Document(b.payload).LookupErr(b.collectionPath...)
		if err == nil {
			name, ok := v.StringValueOK()
			if !ok {
				return "", &DocumentError{Field: b.cfg.CollectionField, Reason: fmt.Sprintf("is a %s, but the collection field must be a string", bson.Type(v.Type))}
			}
			if problem := checkCollectionName(b.cfg.Database, name); problem != "" {
				return "", &DocumentError{Field: b.cfg.CollectionField, Reason: problem}
			}
			return name, nil
		}
	}
	if name, ok := b.cfg.Collections[r.Topic]; ok {
		return name, nil
	}
	return b.cfg.Collection, nil
}

// appendID appends the document's _id element to arena: the payload's own
// _id, or the one the strategy gives.
func (b *builder) appendID(r *sink.Record, isObject bool, arena []byte) ([]byte, error) {
	payloadID := -1
	for _, off := range b.elements {
		if bytes.HasPrefix(b.payload[off+1:], []byte("_id\x00")) {
			payloadID = off
			break
		}
	}

	if payloadID >= 0 && (!b.cfg.IDOverwrite || b.cfg.IDStrategy == IDDriver) {
		end := b.elementEnd(payloadID)
		element := b.payload[payloadID:end]
		if err := checkIDType(element[0], "_id"); err != nil {
			return arena, err
		}
		return append(arena, element...), nil
	}

	arena = append(arena, 0)
	typePos := len(arena) - 1
	arena = append(arena, "_id\x00"...)
	switch b.cfg.IDStrategy {
	case IDDriver:
		oid := bson.NewObjectID()
		arena[typePos] = typeObjectID
		arena = append(arena, oid[:]...)
	case IDKey:
		if r.Key == "" {
			return arena, &DocumentError{Field: "_id", Reason: "the record has no routing key, which id_strategy key takes the _id from"}
		}
		arena[typePos] = typeString
		arena = appendBSONString(arena, r.Key)
	case IDAttribute:
		v, ok := r.Attributes[b.cfg.IDField]
		if !ok {
			return arena, &DocumentError{Field: "_id", Reason: fmt.Sprintf("the record has no attribute %q, which id_strategy attribute takes the _id from", b.cfg.IDField)}
		}
		arena[typePos] = typeString
		arena = appendBSONString(arena, v)
	case IDField:
		if !isObject {
			return arena, &DocumentError{Field: b.cfg.IDField, Reason: "the payload is not a JSON object, which id_strategy field takes the _id from"}
		}
		v, err := bsoncore.Document(b.payload).LookupErr(b.idPath...)
		if err != nil {
			return arena, &DocumentError{Field: b.cfg.IDField, Reason: "missing, and id_strategy field takes the _id from it"}
		}
		if err := checkIDType(byte(v.Type), b.cfg.IDField); err != nil {
			return arena, err
		}
		arena[typePos] = byte(v.Type)
		arena = append(arena, v.Data...)
	default: // IDDeterministic
		arena[typePos] = typeString
		lenPos := len(arena)
		arena = append(arena, 0, 0, 0, 0)
		arena = appendDeterministicID(arena, r)
		arena = append(arena, 0)
		binary.LittleEndian.PutUint32(arena[lenPos:], uint32(len(arena)-lenPos-4))
	}
	return arena, nil
}

// appendDeterministicID appends the deterministic _id of r:
// "<topic>:<partition>:<offset>:<publish time>", the publish time in Unix
// milliseconds (0 when the producer set none). The topic and partition
// name the stream and the offset the message in it. The broker stores the
// publish time with the message, so the id is the same on every delivery.
// The publish time distinguishes two messages at one offset, after the
// offsets of a topic started over. Reading from the right, the last three
// parts are always numbers, so a ':' in a topic name cannot make two ids
// alike.
func appendDeterministicID(dst []byte, r *sink.Record) []byte {
	dst = append(dst, r.Topic...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, r.Offset, 10)
	dst = append(dst, ':')
	var ms int64
	if !r.PublishTime.IsZero() {
		ms = r.PublishTime.UnixMilli()
	}
	return strconv.AppendInt(dst, ms, 10)
}

// DeterministicID returns the _id that the deterministic strategy gives r.
func DeterministicID(r *sink.Record) string {
	return string(appendDeterministicID(nil, r))
}

// checkIDType rejects the BSON types that MongoDB does not allow as _id.
// field names where the value comes from.
func checkIDType(t byte, field string) error {
	switch t {
	case typeArray:
		return &DocumentError{Field: field, Reason: "is an array, which MongoDB does not allow as _id"}
	case typeRegex:
		return &DocumentError{Field: field, Reason: "is a regular expression, which MongoDB does not allow as _id"}
	case typeUndefined:
		return &DocumentError{Field: field, Reason: "is undefined, which MongoDB does not allow as _id"}
	}
	return nil
}

// elementEnd returns the offset in b.payload just past the top-level
// element at off.
func (b *builder) elementEnd(off int) int {
	for i, o := range b.elements {
		if o == off && i+1 < len(b.elements) {
			return b.elements[i+1]
		}
	}
	return len(b.payload) - 1
}

// appendDocument appends the stored document: the _id element, the
// payload's other top-level elements, the metadata and the timestamp. It
// checks the top-level field names and the size.
func (b *builder) appendDocument(r *sink.Record, idElement []byte, arena []byte) ([]byte, error) {
	start := len(arena)
	arena = append(arena, 0, 0, 0, 0)
	arena = append(arena, idElement...)

	for i, off := range b.elements {
		end := len(b.payload) - 1
		if i+1 < len(b.elements) {
			end = b.elements[i+1]
		}
		keyEnd := off + 1 + bytes.IndexByte(b.payload[off+1:], 0)
		key := b.payload[off+1 : keyEnd]
		if string(key) == "_id" {
			// The payload's own _id is already first, or the strategy
			// replaced it.
			continue
		}
		if err := b.checkTopLevelName(key); err != nil {
			return arena, err
		}
		arena = append(arena, b.payload[off:end]...)
	}

	if !b.cfg.OmitMetadata {
		var err error
		if arena, err = b.appendMetadata(r, arena); err != nil {
			return arena, err
		}
	}
	if b.cfg.TimestampField != "" {
		arena = appendTimeElement(arena, b.cfg.TimestampField, r)
	}

	arena = closeDocument(arena, start)
	if size := len(arena) - start; size > MaxDocumentSize {
		return arena, b.sizeError(size)
	}
	return arena, nil
}

// checkTopLevelName applies the sink's rules for top-level field names.
// MongoDB 5.0 and later store a top-level name that starts with '$' when
// inserting, but not in a replacement or an update, where it reads as an
// operator. The sink rejects it for every write model alike, so that a
// record's validity does not depend on the model. Names the sink itself
// writes (metadata, timestamp) may not come from the payload. An update
// also rejects a name with a '.' or an empty name, because $set would read
// it as a path.
func (b *builder) checkTopLevelName(key []byte) error {
	switch {
	case len(key) > 0 && key[0] == '$':
		return &DocumentError{Field: string(key), Reason: "a top-level field name may not start with '$'"}
	case !b.cfg.OmitMetadata && string(key) == b.cfg.MetadataField:
		return &DocumentError{Field: string(key), Reason: "the sink writes the message metadata to this field; rename the field or set metadata_field"}
	case b.cfg.TimestampField != "" && string(key) == b.cfg.TimestampField:
		return &DocumentError{Field: string(key), Reason: "the sink writes the publish time to this field; rename the field or set timestamp_field"}
	case b.cfg.WriteModel == WriteUpdate && len(key) == 0:
		return &DocumentError{Field: "", Reason: "the update write model cannot set a field with an empty name"}
	case b.cfg.WriteModel == WriteUpdate && bytes.IndexByte(key, '.') >= 0:
		return &DocumentError{Field: string(key), Reason: "the update write model would read the '.' in this name as a path; use write model insert or replace"}
	}
	return nil
}

// sizeError reports a document over MaxDocumentSize, naming its largest
// top-level field.
func (b *builder) sizeError(size int) error {
	largest, largestSize := "", 0
	for i, off := range b.elements {
		end := len(b.payload) - 1
		if i+1 < len(b.elements) {
			end = b.elements[i+1]
		}
		if end-off > largestSize {
			keyEnd := off + 1 + bytes.IndexByte(b.payload[off+1:], 0)
			largest, largestSize = string(b.payload[off+1:keyEnd]), end-off
		}
	}
	return &DocumentError{
		Field:  largest,
		Reason: fmt.Sprintf("the document is %d bytes with _id and metadata, over MongoDB's limit of %d; its largest field is this one, %d bytes", size, MaxDocumentSize, largestSize),
	}
}

// appendMetadata appends the metadata sub-document of r.
func (b *builder) appendMetadata(r *sink.Record, dst []byte) ([]byte, error) {
	if r.Offset > math.MaxInt64 {
		return dst, &DocumentError{Field: b.cfg.MetadataField + "." + metaOffset, Reason: fmt.Sprintf("offset %d does not fit an int64", r.Offset)}
	}

	dst = appendKey(dst, typeDocument, b.cfg.MetadataField)
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)

	dst = appendStringElement(dst, metaTopic, r.Topic)
	dst = appendKey(dst, typeInt32, metaPartition)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(r.Partition)))
	dst = appendKey(dst, typeInt64, metaOffset)
	dst = binary.LittleEndian.AppendUint64(dst, r.Offset)
	if r.Producer != "" {
		dst = appendStringElement(dst, metaProducer, r.Producer)
	}
	dst = appendTimeElement(dst, metaPublishTime, r)
	if r.Key != "" {
		dst = appendStringElement(dst, metaKey, r.Key)
	}

	if len(r.Attributes) > 0 {
		// Sorted, so that every delivery of a message gives the same bytes.
		b.keys = b.keys[:0]
		for k := range r.Attributes {
			if strings.IndexByte(k, 0) >= 0 {
				return dst, &DocumentError{Field: b.cfg.MetadataField + "." + metaAttributes, Reason: fmt.Sprintf("attribute name %q contains a NUL character, which BSON cannot store", k)}
			}
			b.keys = append(b.keys, k)
		}
		slices.Sort(b.keys)
		dst = appendKey(dst, typeDocument, metaAttributes)
		attrStart := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		for _, k := range b.keys {
			dst = appendStringElement(dst, k, r.Attributes[k])
		}
		dst = closeDocument(dst, attrStart)
	}

	return closeDocument(dst, start), nil
}

// appendTimeElement appends r's publish time as a date, or null when the
// record has none.
func appendTimeElement(dst []byte, key string, r *sink.Record) []byte {
	if r.PublishTime.IsZero() {
		return appendKey(dst, typeNull, key)
	}
	dst = appendKey(dst, typeDateTime, key)
	return binary.LittleEndian.AppendUint64(dst, uint64(r.PublishTime.UnixMilli()))
}

// appendSetUpdate appends {"$set": doc without its first element}; the
// first element of doc is its _id, idLen bytes long.
func appendSetUpdate(dst []byte, doc bson.Raw, idLen int) []byte {
	rest := doc[4+idLen : len(doc)-1]

	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendKey(dst, typeDocument, "$set")
	dst = binary.LittleEndian.AppendUint32(dst, uint32(4+len(rest)+1))
	dst = append(dst, rest...)
	dst = append(dst, 0)
	return closeDocument(dst, start)
}

// appendKey appends an element's type and key.
func appendKey(dst []byte, t byte, key string) []byte {
	dst = append(dst, t)
	dst = append(dst, key...)
	return append(dst, 0)
}

func appendStringElement(dst []byte, key, value string) []byte {
	return appendBSONString(appendKey(dst, typeString, key), value)
}

// closeDocument terminates the document that starts at start in dst and
// writes its length.
func closeDocument(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}
