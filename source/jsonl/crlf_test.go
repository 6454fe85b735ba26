package jsonl_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// TestCRLFLineAtLimitAccepted checks that MaxLineBytes bounds a line
// without its line end: a line of exactly the limit is published whether
// it ends in "\n" or "\r\n".
func TestCRLFLineAtLimitAccepted(t *testing.T) {
	s := open(t, jsonl.Options{File: writeInput(t, "0123456789\n0123456789\r\n"), MaxLineBytes: 10}, nil)
	recs, err := s.Poll(context.Background())
	if err != nil || strings.Join(payloads(recs), "|") != "0123456789|0123456789" {
		t.Fatalf("Poll = %q, %v; want both 10-byte lines, LF and CRLF alike", payloads(recs), err)
	}
	if p := position(t, recs[1].Position); p.Offset != 23 || p.Lines != 2 {
		t.Errorf("position after the CRLF line %+v, want offset 23 after 2 lines", p)
	}
}

// TestLineOverLimitIsFatal checks that a line one byte over the limit is
// rejected with either line end. The same holds for the last line of a
// file that has no newline at its end.
func TestLineOverLimitIsFatal(t *testing.T) {
	for _, tc := range []struct{ name, text, where string }{
		{"LF", "ok\n01234567890\n", "line 2 at offset 3"},
		{"CRLF", "ok\r\n01234567890\r\n", "line 2 at offset 4"},
		{"CR in line", "ok\n0123456789\r0\n", "line 2 at offset 3"},
		{"no newline", "ok\n01234567890", "line 2 at offset 3"},
		{"CR at end", "ok\n01234567890\r", "line 2 at offset 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, jsonl.Options{File: writeInput(t, tc.text), MaxLineBytes: 10}, nil)
			var all []source.Record
			var err error
			for err == nil {
				var recs []source.Record
				recs, err = s.Poll(context.Background())
				all = append(all, recs...)
			}
			if !errors.Is(err, source.ErrFatal) {
				t.Errorf("Poll = %v, want a fatal error", err)
			}
			if !strings.Contains(err.Error(), tc.where) {
				t.Errorf("Poll = %v, want the error to name %s", err, tc.where)
			}
			if got := strings.Join(payloads(all), "|"); got != "ok" {
				t.Errorf("records %q, want only the first line", got)
			}
		})
	}
}

// TestLastLineAtLimitWithCRAccepted checks that the last line of a file
// without a newline may be as long as the limit and end in a carriage
// return.
func TestLastLineAtLimitWithCRAccepted(t *testing.T) {
	s := open(t, jsonl.Options{File: writeInput(t, "0123456789\r"), MaxLineBytes: 10}, nil)
	recs, err := s.Poll(context.Background())
	if !errors.Is(err, io.EOF) || strings.Join(payloads(recs), "|") != "0123456789" {
		t.Fatalf("Poll = %q, %v; want the line without its carriage return, then io.EOF", payloads(recs), err)
	}
}
