package jsonl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// mixedLines returns lines of varied lengths, some CRLF, some blank,
// totalling more than 8192 bytes, and their texts without line ends for
// the non-blank ones.
func mixedLines() (string, []string) {
	var b strings.Builder
	var want []string
	for i := 0; b.Len() < 9000; i++ {
		switch {
		case i%17 == 5:
			b.WriteString("\n")
		case i%7 == 3:
			l := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("y", i%50))
			b.WriteString(l + "\r\n")
			want = append(want, l)
		default:
			l := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%61))
			b.WriteString(l + "\n")
			want = append(want, l)
		}
	}
	return b.String(), want
}

// TestResumeAtEveryLine resumes at the position after each line in turn,
// and checks that Open accepts it and that the next line comes out. Each
// position was reached by a source that itself resumed, so the head
// fingerprint is built across Opens and across the 4096-byte boundary.
func TestResumeAtEveryLine(t *testing.T) {
	text, want := mixedLines()
	path := writeInput(t, text)
	opts := jsonl.Options{File: path, MaxRecordsPerPoll: 1}
	var cp source.Checkpoint
	for i := range want {
		s, err := jsonl.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(context.Background(), cp); err != nil {
			t.Fatalf("Open at record %d (%+v): %v", i, position(t, cp), err)
		}
		recs, err := s.Poll(context.Background())
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("Poll at record %d: %v", i, err)
		}
		if len(recs) != 1 || string(recs[0].Payload) != want[i] {
			t.Fatalf("Poll at record %d = %q, want %q", i, payloads(recs), want[i])
		}
		cp = recs[0].Position
		s.Close(context.Background())
	}
	p := position(t, cp)
	if p.Offset != int64(len(text)) || p.Head.Size != 4096 {
		t.Errorf("final position %+v, want offset %d and a head of 4096 bytes", p, len(text))
	}
}

// TestResumeAtHeadBoundary resumes at exactly offset 4096, after the
// file grew past it, and in an empty file.
func TestResumeAtHeadBoundary(t *testing.T) {
	line := strings.Repeat("a", 4095) // with its newline, 4096 bytes
	path := writeInput(t, line+"\n")
	s := open(t, jsonl.Options{File: path, Follow: true}, nil)
	recs, err := s.Poll(context.Background())
	if err != nil || len(recs) != 1 {
		t.Fatalf("Poll = %d records, %v", len(recs), err)
	}
	cp := recs[0].Position
	if p := position(t, cp); p.Offset != 4096 || p.Head.Size != 4096 {
		t.Errorf("position %+v, want offset and head 4096", p)
	}
	appendInput(t, path, "b\n")
	s2 := open(t, jsonl.Options{File: path, Follow: true}, cp)
	recs, err = s2.Poll(context.Background())
	if err != nil || len(recs) != 1 || string(recs[0].Payload) != "b" {
		t.Fatalf("Poll after resume at 4096 = %q, %v", payloads(recs), err)
	}
	open(t, jsonl.Options{File: path}, recs[0].Position)

	empty := writeInput(t, "")
	e := open(t, jsonl.Options{File: empty, Follow: true}, nil)
	if recs, err := e.Poll(context.Background()); err != nil || len(recs) != 0 {
		t.Fatalf("Poll of an empty file = %q, %v", payloads(recs), err)
	}
	zero := jsonl.Position{}.Checkpoint()
	open(t, jsonl.Options{File: empty}, zero)
}

// TestOversizedFingerprintRejected covers a checkpoint file whose
// fingerprint covers more bytes than the source ever fingerprints: the
// source cannot have written it, so it is an invalid checkpoint file, not
// a sign that the input file was replaced.
func TestOversizedFingerprintRejected(t *testing.T) {
	text, _ := mixedLines()
	path := writeInput(t, text)
	for _, cpText := range []string{
		fmt.Sprintf(`{"offset":%d,"lines":1,"head":{"size":5000,"sum":1}}`, len(text)),
		fmt.Sprintf(`{"offset":%d,"lines":1,"last":{"size":5000,"sum":1}}`, len(text)),
	} {
		if err := os.WriteFile(path+jsonl.CheckpointSuffix, []byte(cpText), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := jsonl.New(jsonl.Options{File: path})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := s.LastCheckpoint(context.Background())
		if err == nil {
			err = s.Open(context.Background(), cp)
			s.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), "invalid checkpoint") {
			t.Errorf("checkpoint %s: got %v, want it rejected as an invalid checkpoint file", cpText, err)
		}
	}
}
