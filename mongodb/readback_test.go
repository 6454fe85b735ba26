package mongodb

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
)

// writtenRecords returns total records with offsets from 0 and payloads
// {"n":i}, and writes the first stored of them.
func writtenRecords(t *testing.T, s *Sink, total, stored int) []*sink.Record {
	t.Helper()
	records := make([]*sink.Record, total)
	for i := range records {
		records[i] = newRecord(uint64(i), `{"n":`+itoa(i)+`}`)
	}
	writeAll(t, s, records[:stored], stored)
	return records
}

// TestReadBackFailureKeepsEarlierQueries redelivers nine written records
// among three new ones, reads them back three ids per query, and fails the
// second query as a timeout would. The first query's records are written,
// the read-back stops, and only the records it left unproven are retried.
func TestReadBackFailureKeepsEarlierQueries(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		records := writtenRecords(t, s, 12, 9)
		s.readBackIDs = 3
		var queries []int
		s.readBackFault = func(query int) error {
			queries = append(queries, query)
			if query == 1 {
				return context.DeadlineExceeded
			}
			return nil
		}

		got := failures(t, s.Write(testContext(t), records))

		// Unordered, the new records are inserted and the duplicates of
		// the failed query are retryable. Ordered, the insert stopped at
		// record 0, and every record after the first query's is retryable.
		last := 8
		if ordered {
			last = 11
		}
		want := map[int]sink.Class{}
		for i := 3; i <= last; i++ {
			want[i] = sink.ErrRetryable
		}
		wantFailures(t, got, want)
		for i := 3; i <= last; i++ {
			if err := got[i]; err != nil && !strings.Contains(err.Error(), "reading") {
				t.Errorf("record %d: failure %q does not name the read-back", i, err)
			}
		}
		if !slices.Equal(queries, []int{0, 1}) {
			t.Errorf("read-back queries %v, want [0 1], the query that succeeded and the one that failed", queries)
		}

		s.readBackFault = nil
		var retry []*sink.Record
		for i := range got {
			retry = append(retry, records[i])
		}
		if err := s.Write(testContext(t), retry); err != nil {
			t.Fatalf("retry of the unproven records: %v", err)
		}
		if n := count(t, db.Collection("events"), nil); n != 12 {
			t.Errorf("collection holds %d documents, want 12", n)
		}
	})
}

// TestReadBackTimeoutMakesProgress redelivers twelve written records to a
// server on which every read-back query after the first of a bulk request
// times out. Each retry settles the first query's three records, so four
// attempts write them all, where a single query for every id would time
// out on every attempt.
func TestReadBackTimeoutMakesProgress(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, db := openSink(t, Config{OrderedInserts: ordered})
		records := writtenRecords(t, s, 12, 12)
		s.readBackIDs = 3
		s.readBackFault = func(query int) error {
			if query > 0 {
				return context.DeadlineExceeded
			}
			return nil
		}

		pending := records
		for attempt := 1; len(pending) > 0; attempt++ {
			if attempt > 4 {
				t.Fatalf("%d records still unwritten after 4 attempts", len(pending))
			}
			got := failures(t, s.Write(testContext(t), pending))

			want := map[int]sink.Class{}
			for i := 3; i < len(pending); i++ {
				want[i] = sink.ErrRetryable
			}
			wantFailures(t, got, want)

			var next []*sink.Record
			for i, r := range pending {
				if got[i] != nil {
					next = append(next, r)
				}
			}
			pending = next
		}
		if n := count(t, db.Collection("events"), nil); n != 12 {
			t.Errorf("collection holds %d documents, want 12", n)
		}
	})
}

// TestReadBackFailureIsRetryable fails the first read-back query: no
// record is proven written, and every duplicate is retryable with the
// read-back's error.
func TestReadBackFailureIsRetryable(t *testing.T) {
	modes(t, func(t *testing.T, ordered bool) {
		s, _ := openSink(t, Config{OrderedInserts: ordered})
		records := writtenRecords(t, s, 2, 2)
		s.readBackFault = func(int) error { return errors.New("test read-back failure") }

		got := failures(t, s.Write(testContext(t), records))

		wantFailures(t, got, map[int]sink.Class{0: sink.ErrRetryable, 1: sink.ErrRetryable})
		for i, err := range got {
			if !strings.Contains(err.Error(), "test read-back failure") {
				t.Errorf("record %d: failure %q does not carry the read-back's error", i, err)
			}
		}
	})
}
