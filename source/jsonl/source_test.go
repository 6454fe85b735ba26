package jsonl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// writeInput creates the input file with text and returns its path.
func writeInput(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func appendInput(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, opts jsonl.Options, cp source.Checkpoint) *jsonl.Source {
	t.Helper()
	s, err := jsonl.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(context.Background(), cp); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// payloads returns the payloads of recs as strings.
func payloads(recs []source.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Payload)
	}
	return out
}

func position(t *testing.T, cp source.Checkpoint) jsonl.Position {
	t.Helper()
	p, err := jsonl.DecodeCheckpoint(cp)
	if err != nil {
		t.Fatalf("DecodeCheckpoint: %v", err)
	}
	return p
}

func TestPollWaitsForLineEnd(t *testing.T) {
	path := writeInput(t, "{\"a\":1}\n{\"a\":2}\r\n{\"a\":")
	s := open(t, jsonl.Options{File: path, Follow: true}, nil)

	recs, err := s.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if got := payloads(recs); strings.Join(got, "|") != `{"a":1}|{"a":2}` {
		t.Fatalf("Poll = %q, want the two complete lines without line ends", got)
	}
	if p := position(t, recs[1].Position); p.Offset != 17 || p.Lines != 2 {
		t.Errorf("second position %+v, want offset 17 after 2 lines", p)
	}

	recs, err = s.Poll(context.Background())
	if err != nil || len(recs) != 0 {
		t.Fatalf("Poll = %q, %v; want nothing while the last line has no newline", payloads(recs), err)
	}
	appendInput(t, path, "3}\n")
	recs, err = s.Poll(context.Background())
	if err != nil || len(recs) != 1 || string(recs[0].Payload) != `{"a":3}` {
		t.Fatalf("Poll = %q, %v; want the completed line", payloads(recs), err)
	}
	if p := position(t, recs[0].Position); p.Offset != 25 || p.Lines != 3 {
		t.Errorf("position %+v, want offset 25 after 3 lines", p)
	}
}

func TestPollWithoutFollowEndsAtEOF(t *testing.T) {
	path := writeInput(t, "1\n\n  \n2\n3")
	s := open(t, jsonl.Options{File: path}, nil)

	var all []source.Record
	for {
		recs, err := s.Poll(context.Background())
		all = append(all, recs...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if got := strings.Join(payloads(all), "|"); got != "1|2|3" {
		t.Fatalf("records %q, want 1|2|3: blank lines skipped, the last line without newline kept", got)
	}
	if p := position(t, all[1].Position); p.Offset != 8 || p.Lines != 4 {
		t.Errorf("position after 2 is %+v, want offset 8 after 4 lines, blank ones counted", p)
	}
	if p := position(t, all[2].Position); p.Offset != 9 || p.Lines != 5 {
		t.Errorf("position after 3 is %+v, want the end of the file", p)
	}
}

func TestPollBoundedPerCall(t *testing.T) {
	var text strings.Builder
	for i := range 25 {
		fmt.Fprintf(&text, "%d\n", i)
	}
	s := open(t, jsonl.Options{File: writeInput(t, text.String()), Follow: true, MaxRecordsPerPoll: 10}, nil)
	for _, want := range []int{10, 10, 5, 0} {
		recs, err := s.Poll(context.Background())
		if err != nil || len(recs) != want {
			t.Fatalf("Poll = %d records, %v; want %d", len(recs), err, want)
		}
	}
}

func TestOpenResumesAtCheckpoint(t *testing.T) {
	path := writeInput(t, "a\nb\nc\n")
	first := open(t, jsonl.Options{File: path}, nil)
	recs, err := first.Poll(context.Background())
	if err != nil || len(recs) != 3 {
		t.Fatalf("Poll = %q, %v", payloads(recs), err)
	}

	s := open(t, jsonl.Options{File: path, PositionAttributes: true}, recs[0].Position)
	recs, err = s.Poll(context.Background())
	if err != nil || strings.Join(payloads(recs), "|") != "b|c" {
		t.Fatalf("Poll after resuming = %q, %v; want b|c", payloads(recs), err)
	}
	if a := recs[0].Attributes; a[jsonl.AttrOffset] != "2" || a[jsonl.AttrLine] != "2" {
		t.Errorf("attributes of b = %v, want offset 2 and line 2", a)
	}
}

func TestKeyFieldSetsRoutingKey(t *testing.T) {
	path := writeInput(t, `{"id":"k1","v":1}`+"\n"+`{"id":7}`+"\n"+`{"v":2}`+"\n"+`not json`+"\n")
	s := open(t, jsonl.Options{File: path, KeyField: "id"}, nil)
	recs, _ := s.Poll(context.Background())
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	if strings.Join(keys, "|") != "k1|7||" {
		t.Errorf("keys %q, want k1, 7 and none for the lines without the field", keys)
	}
}

func TestShrunkFileIsFatal(t *testing.T) {
	path := writeInput(t, "aaaa\nbbbb\n")
	s := open(t, jsonl.Options{File: path, Follow: true}, nil)
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Poll(context.Background())
	if !errors.Is(err, source.ErrFatal) || !strings.Contains(err.Error(), "truncated or replaced") {
		t.Fatalf("Poll after truncation = %v, want a fatal error saying so", err)
	}

	// A checkpoint past the end of the file is refused at Open as well.
	cp := jsonl.Position{Offset: 10, Lines: 2}
	fresh, err := jsonl.New(jsonl.Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	err = fresh.Open(context.Background(), cp.Checkpoint())
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Open past the end = %v, want a fatal error", err)
	}
}

func TestLongLineIsFatal(t *testing.T) {
	path := writeInput(t, "short\n"+strings.Repeat("x", 100)+"\n")
	s := open(t, jsonl.Options{File: path, MaxLineBytes: 50}, nil)
	recs, err := s.Poll(context.Background())
	if !errors.Is(err, source.ErrFatal) || !strings.Contains(err.Error(), "line 2 at offset 6") {
		t.Fatalf("Poll = %q, %v; want a fatal error naming line 2 at offset 6", payloads(recs), err)
	}
	if len(recs) != 1 {
		t.Errorf("Poll returned %d records with the error, want the short line", len(recs))
	}
}

func TestCommitWritesCheckpointFileAtomically(t *testing.T) {
	path := writeInput(t, "a\nb\n")
	s := open(t, jsonl.Options{File: path}, nil)
	if cp, err := s.LastCheckpoint(context.Background()); err != nil || cp != nil {
		t.Fatalf("LastCheckpoint before any commit = %x, %v; want none", cp, err)
	}
	recs, _ := s.Poll(context.Background())

	for _, r := range recs {
		if err := s.Commit(context.Background(), r.Position); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	p, ok, err := jsonl.ReadCheckpointFile(path + jsonl.CheckpointSuffix)
	if err != nil || !ok || p.Offset != 4 || p.Lines != 2 {
		t.Fatalf("checkpoint file holds %+v (%v, %v), want offset 4 after 2 lines", p, ok, err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want the input and the checkpoint file only", names)
	}
	cp, err := s.LastCheckpoint(context.Background())
	if err != nil || position(t, cp) != p {
		t.Errorf("LastCheckpoint = %x, %v; want the committed position", cp, err)
	}
}

func TestCorruptCheckpointFileIsFatal(t *testing.T) {
	path := writeInput(t, "a\n")
	if err := os.WriteFile(path+jsonl.CheckpointSuffix, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := jsonl.New(jsonl.Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LastCheckpoint(context.Background())
	if !errors.Is(err, source.ErrFatal) || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("LastCheckpoint = %v, want a fatal error saying how to recover", err)
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	_, err := jsonl.New(jsonl.Options{MaxLineBytes: -1, MaxRecordsPerPoll: -2})
	for _, want := range []string{"missing File", "MaxLineBytes -1", "MaxRecordsPerPoll -2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New = %v, want it to mention %q", err, want)
		}
	}
}
