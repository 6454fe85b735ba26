package mongodb

import (
	"context"
	"errors"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestSettleMapsWriteErrorsToRecords feeds bulk write exceptions, as the
// driver returns them, to the mapping of a six-record request, for codes
// that a test server cannot be made to return.
func TestSettleMapsWriteErrorsToRecords(t *testing.T) {
	const (
		written   = "written"
		pending   = "pending"
		retryable = "retryable"
		invalid   = "invalid"
		fatal     = "fatal"
	)
	writeErr := func(index, code int) mongo.BulkWriteError {
		return mongo.BulkWriteError{WriteError: mongo.WriteError{Index: index, Code: code, Message: "test error"}}
	}
	tests := []struct {
		name     string
		ordered  bool
		kind     writeKind
		bulk     mongo.BulkWriteException
		want     [6]string
		wantStop stop
	}{
		{
			name:     "ordered shutdown in the middle retries the tail",
			ordered:  true,
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(2, 91)}},
			want:     [6]string{written, written, retryable, retryable, retryable, retryable},
			wantStop: stopGroup,
		},
		{
			name:     "ordered invalid document leaves the tail to send again",
			ordered:  true,
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(2, 121)}},
			want:     [6]string{written, written, invalid, pending, pending, pending},
			wantStop: stopNothing,
		},
		{
			name:     "ordered unknown code is invalid data",
			ordered:  true,
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(0, 999999)}},
			want:     [6]string{invalid, pending, pending, pending, pending, pending},
			wantStop: stopNothing,
		},
		{
			name:     "unordered errors are per document",
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(1, 121), writeErr(4, 52)}},
			want:     [6]string{written, invalid, written, written, invalid, written},
			wantStop: stopNothing,
		},
		{
			name:     "unordered stepdown retries what the server may not have reached",
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(1, 121), writeErr(3, 11602)}},
			want:     [6]string{written, invalid, written, retryable, retryable, retryable},
			wantStop: stopNothing,
		},
		{
			name:     "unauthorized stops the batch",
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(2, 13)}},
			want:     [6]string{written, written, fatal, retryable, retryable, retryable},
			wantStop: stopAll,
		},
		{
			name:     "duplicate key on an upsert is retryable",
			kind:     kindReplace,
			bulk:     mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{writeErr(5, 11000)}},
			want:     [6]string{written, written, written, written, written, retryable},
			wantStop: stopNothing,
		},
		{
			name:     "write concern failure retries every record",
			ordered:  true,
			bulk:     mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Message: "waiting for replication timed out"}},
			want:     [6]string{retryable, retryable, retryable, retryable, retryable, retryable},
			wantStop: stopGroup,
		},
		{
			name:     "unsatisfiable write concern is fatal",
			bulk:     mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{Code: 100, Message: "not enough data-bearing nodes"}},
			want:     [6]string{fatal, fatal, fatal, fatal, fatal, fatal},
			wantStop: stopAll,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Sink{cfg: Config{OrderedInserts: tt.ordered}.withDefaults()}
			w := &batchWrite{}
			w.reset(s, &connection{}, make([]*sink.Record, 6))
			chunk := []int{0, 1, 2, 3, 4, 5}
			for i := range w.docs {
				w.docs[i].kind = tt.kind
			}

			gotStop, _ := w.settle(context.Background(), &group{ns: "db.events"}, chunk, tt.bulk)

			if gotStop != tt.wantStop {
				t.Errorf("stop = %d, want %d", gotStop, tt.wantStop)
			}
			for i, want := range tt.want {
				var got string
				switch w.states[i] {
				case stateWritten:
					got = written
				case statePending:
					got = pending
				default:
					switch sink.ClassOf(w.errs[i]) {
					case sink.ErrRetryable:
						got = retryable
					case sink.ErrInvalidData:
						got = invalid
					case sink.ErrFatal:
						got = fatal
					}
				}
				if got != want {
					t.Errorf("record %d: %s (%v), want %s", i, got, w.errs[i], want)
				}
			}
		})
	}
}

// TestSettleKeepsServerErrorReachable checks that a record's failure wraps
// the driver's write error, so that its code can be read with errors.As.
func TestSettleKeepsServerErrorReachable(t *testing.T) {
	s := &Sink{cfg: Config{}.withDefaults()}
	w := &batchWrite{}
	w.reset(s, &connection{}, make([]*sink.Record, 1))
	bulk := mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 0, Code: 121, Message: "Document failed validation"}}}}

	w.settle(context.Background(), &group{ns: "db.events"}, []int{0}, bulk)

	var we mongo.WriteError
	if !errors.As(w.errs[0], &we) || we.Code != 121 {
		t.Errorf("failure %v does not wrap the write error with code 121", w.errs[0])
	}
	if !errors.Is(w.errs[0], sink.ErrInvalidData) {
		t.Errorf("failure %v is not invalid data", w.errs[0])
	}
}

func TestCommandErrorClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sink.Class
	}{
		{"network label", mongo.CommandError{Labels: []string{"NetworkError"}}, sink.ErrRetryable},
		{"authentication failed", mongo.CommandError{Code: 18, Name: "AuthenticationFailed"}, sink.ErrFatal},
		{"unauthorized with a retryable label", mongo.CommandError{Code: 13, Labels: []string{"RetryableWriteError"}}, sink.ErrFatal},
		{"not primary", mongo.CommandError{Code: 10107}, sink.ErrRetryable},
		{"closed client", mongo.ErrClientDisconnected, sink.ErrRetryable},
		{"cancelled", context.Canceled, sink.ErrRetryable},
		{"deadline", context.DeadlineExceeded, sink.ErrRetryable},
		{"unknown", errors.New("something else"), sink.ErrRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandErrorClass(tt.err); got != tt.want {
				t.Errorf("commandErrorClass = %v, want %v", got, tt.want)
			}
		})
	}
}
