package mongodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// How the sink classifies what the server returns. A write error concerns
// one document of a bulk write; a command error fails the whole request.
//
//	code(s)                                   meaning                                class
//	11000, 11001, 12582                       duplicate key                          see below
//	2, 9, 14, 15, 22, 28, 30                  bad value, bad path, bad BSON          invalid data
//	52, 53, 54, 55, 56, 57                    bad field name, bad _id, bad DBRef     invalid data
//	66                                        immutable field                        invalid data
//	121                                       document validation failed             invalid data
//	10334, 17419, 17420                       document too large                     invalid data
//	17280, 16755                              index key too long or not extractable  invalid data
//	6, 7, 89, 9001, 202                       network, host unreachable              retryable
//	91, 189, 10107, 11600, 11602, 13435,      shutdown, stepdown, not primary        retryable
//	13436
//	24, 46, 112, 11601                        lock timeout, write conflict, interrupt retryable
//	50, 262, 64                               time limit, write concern timeout      retryable
//	63, 150, 13388, 133, 134                  stale routing, read concern not ready  retryable
//	16500                                     rate limited (Azure Cosmos DB)         retryable
//	13, 18, 11, 8000                          unauthorized, authentication failed    fatal
//	166, 20                                   write to a view, illegal operation     fatal
//	79, 100                                   unknown or unsatisfiable write concern fatal
//	73                                        invalid namespace                      see below
//
// A server that fails a whole request with InvalidNamespace (73) rejects
// the database or collection name, so every write to that collection
// fails the same way and a retry would loop forever. MongoDB reports
// every namespace rule with this one code, and so does FerretDB 1.24. For
// a collection named by a record's collection field, the records of that
// collection are invalid data and the rest of the batch is written. For a
// configured collection (Config.Collection or a value of
// Config.Collections) the configuration is at fault, so the error is
// fatal. Names are checked against MongoDB's rules before anything is
// sent, so the server reports 73 only for a rule of its own, such as the
// shorter names FerretDB allows.
//
// A duplicate key on an insert is checked by reading the document with the
// same _id back: the same document means the record was written before and
// counts as written; a different document, or none (the duplicate is on
// another unique index), is invalid data. A duplicate key on an upsert is
// retryable, because it comes from a concurrent upsert of the same _id and
// the retry matches the document.
//
// A write error with another code is invalid data: a retry would fail the
// same way and, by nacking, loop forever, while the dead-letter topic keeps
// the record. A command error is fatal when it carries a fatal code and
// retryable otherwise, whatever its labels (NetworkError,
// RetryableWriteError and the like): a network failure, a timeout, a
// closed client or a cancelled context leaves the record unwritten, or not
// known to be written.
var (
	invalidDataCodes = codeSet(2, 9, 14, 15, 22, 28, 30, 52, 53, 54, 55, 56, 57, 66, 121, 10334, 17419, 17420, 17280, 16755)
	retryableCodes   = codeSet(6, 7, 89, 9001, 202, 91, 189, 10107, 11600, 11602, 13435, 13436, 24, 46, 112, 11601, 50, 262, 64, 63, 150, 13388, 133, 134, 16500)
	fatalCodes       = codeSet(13, 18, 11, 8000, 166, 20, 79, 100)
	duplicateCodes   = codeSet(11000, 11001, 12582)
	namespaceCodes   = codeSet(73)
)

func codeSet(codes ...int) map[int]bool {
	m := make(map[int]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// ErrNotAttempted marks a record that the sink did not send, or that the
// server did not reach, because an earlier write of the batch failed. It
// is always retryable.
var ErrNotAttempted = errors.New("not written because an earlier write failed")

// ErrNotOpen is returned by Write and Health before Open or after Close.
var ErrNotOpen = errors.New("mongodb sink is not open")

// DocumentError is the reason a record's document cannot be written as it
// is: a field name MongoDB rejects, an Extended JSON value that does not
// parse, a document over the size limit. Write reports it, marked with
// sink.ErrInvalidData, before sending anything to the server, and writes
// the rest of the batch.
type DocumentError struct {
	// Field is the dotted path of the field at fault, empty when the
	// problem is the document as a whole.
	Field string
	// Reason says what is wrong, in lower case.
	Reason string
}

func (e *DocumentError) Error() string {
	if e.Field == "" {
		return "invalid document: " + e.Reason
	}
	return fmt.Sprintf("invalid document: field %q: %s", e.Field, e.Reason)
}

// isDuplicateKey reports whether a write error code is a duplicate key.
func isDuplicateKey(code int) bool { return duplicateCodes[code] }

// writeErrorClass returns the class of a write error with the given code
// on a write of the given kind, other than a duplicate key on an insert.
func writeErrorClass(kind writeKind, code int) sink.Class {
	switch {
	case isDuplicateKey(code) && kind != kindInsert:
		return sink.ErrRetryable
	case retryableCodes[code]:
		return sink.ErrRetryable
	case fatalCodes[code]:
		return sink.ErrFatal
	case invalidDataCodes[code]:
		return sink.ErrInvalidData
	default:
		// An unknown code on one document: see the table above.
		return sink.ErrInvalidData
	}
}

// writeConcernClass returns the class of a write concern error: the writes
// were applied but not as durably as requested.
func writeConcernClass(code int) sink.Class {
	if fatalCodes[code] {
		return sink.ErrFatal
	}
	return sink.ErrRetryable
}

// commandErrorClass returns the class of an error that failed a whole
// request.
func commandErrorClass(err error) sink.Class {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, mongo.ErrClientDisconnected), mongo.IsTimeout(err):
		return sink.ErrRetryable
	}
	// A failed authentication can reach the sink wrapped in a connection
	// error that carries a retryable label, so the codes come first.
	var server mongo.ServerError
	if errors.As(err, &server) {
		for _, code := range server.ErrorCodes() {
			if fatalCodes[code] {
				return sink.ErrFatal
			}
		}
	}
	return sink.ErrRetryable
}

// rejectsNamespace reports whether err, which failed a whole request, is
// the server rejecting the namespace of the request.
func rejectsNamespace(err error) bool {
	var server mongo.ServerError
	if !errors.As(err, &server) {
		return false
	}
	for _, code := range server.ErrorCodes() {
		if namespaceCodes[code] {
			return true
		}
	}
	return false
}

// mark marks err with class.
func mark(class sink.Class, err error) error {
	switch class {
	case sink.ErrFatal:
		return sink.Fatal(err)
	case sink.ErrInvalidData:
		return sink.InvalidData(err)
	default:
		return sink.Retryable(err)
	}
}
