package jsonl_test

import (
	"context"
	"encoding/binary"
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

// replaceFile replaces path by a new file that contains text, as log
// rotation or an atomic writer does: it writes another file and renames
// it over path.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "new.tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReplacedFileStopsFollowingSource replaces the followed file by a
// shorter one with a rename, which leaves the open file unchanged. The
// next Poll at the end of the old file must stop the source with a Fatal
// error that names the file and the way to read the new one.
func TestReplacedFileStopsFollowingSource(t *testing.T) {
	path := writeInput(t, `{"old":"aaaaaaaaaaaaaaaaaaaaaaaa"}`+"\n"+`{"old":"bbbbbbbbbbbbbbbbbbbbbbbbbb"}`+"\n")
	s := open(t, jsonl.Options{File: path, Follow: true}, nil)
	if recs, err := s.Poll(context.Background()); err != nil || len(recs) != 2 {
		t.Fatalf("first Poll = %q, %v", payloads(recs), err)
	}

	replaceFile(t, path, `{"new":1}`+"\n")
	recs, err := s.Poll(context.Background())
	if len(recs) != 0 {
		t.Errorf("Poll after the replacement = %q, want no records", payloads(recs))
	}
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Poll after the replacement = %v, want a fatal error", err)
	}
	for _, want := range []string{path + " was replaced", "delete " + path + jsonl.CheckpointSuffix} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Poll = %v, want it to say %q", err, want)
		}
	}
}

// TestRemovedFileKeepsFollowingSource removes the followed file, as a
// rotation does before it creates the new one. The source keeps reading
// the open file and publishes lines appended to it, and Health reports
// the missing path.
func TestRemovedFileKeepsFollowingSource(t *testing.T) {
	path := writeInput(t, "a\n")
	s := open(t, jsonl.Options{File: path, Follow: true}, nil)
	if recs, err := s.Poll(context.Background()); err != nil || len(recs) != 1 {
		t.Fatalf("first Poll = %q, %v", payloads(recs), err)
	}
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	if recs, err := s.Poll(context.Background()); err != nil || len(recs) != 0 {
		t.Fatalf("Poll after the removal = %q, %v; want no records and no error", payloads(recs), err)
	}
	if _, err := old.WriteString("b\n"); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Poll(context.Background())
	if err != nil || strings.Join(payloads(recs), "|") != "b" {
		t.Errorf("Poll after an append to the removed file = %q, %v; want b", payloads(recs), err)
	}
	if err := s.Health(context.Background()); err == nil {
		t.Error("Health = nil while the path has no file, want an error")
	}

	if err := os.WriteFile(path, []byte("c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); !errors.Is(err, source.ErrFatal) {
		t.Errorf("Poll once a new file is at the path = %v, want a fatal error", err)
	}
}

// resume returns a Source opened, as the runtime opens it, at the position
// in its checkpoint file, and the error of Open.
func resume(t *testing.T, opts jsonl.Options) (*jsonl.Source, error) {
	t.Helper()
	s, err := jsonl.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := s.LastCheckpoint(context.Background())
	if err != nil {
		t.Fatalf("LastCheckpoint = %v", err)
	}
	err = s.Open(context.Background(), cp)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, err
}

// pollAll returns the records of Poll calls until one returns no records
// or an error.
func pollAll(t *testing.T, s *jsonl.Source) []source.Record {
	t.Helper()
	var all []source.Record
	for {
		recs, err := s.Poll(context.Background())
		all = append(all, recs...)
		if errors.Is(err, io.EOF) || (err == nil && len(recs) == 0) {
			return all
		}
		if err != nil {
			t.Fatalf("Poll = %v", err)
		}
	}
}

// TestReplacedLargerFileRejectedOnResume commits the position after the
// two lines of a file, then replaces it by a longer file. Open must not
// seek to the old offset in the new file, which would skip its first
// lines and split one. It must fail with a Fatal error that names the file
// and says how to read the new one.
func TestReplacedLargerFileRejectedOnResume(t *testing.T) {
	old := `{"old":"aaaaaaaaaaaaaaaaaaaaaaaa"}` + "\n" + `{"old":"bbbbbbbbbbbbbbbbbbbbbbbbbb"}` + "\n"
	path := writeInput(t, old)
	first := open(t, jsonl.Options{File: path, Follow: true}, nil)
	recs, err := first.Poll(context.Background())
	if err != nil || len(recs) != 2 {
		t.Fatalf("Poll = %q, %v", payloads(recs), err)
	}
	if err := first.Commit(context.Background(), recs[1].Position); err != nil {
		t.Fatal(err)
	}
	first.Close(context.Background())

	var fresh strings.Builder
	for i := range 10 {
		fmt.Fprintf(&fresh, `{"new":%d}`+"\n", i)
	}
	replaceFile(t, path, fresh.String())

	_, err = resume(t, jsonl.Options{File: path, Follow: true})
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Open = %v, want a fatal error", err)
	}
	checkpoint := path + jsonl.CheckpointSuffix
	for _, want := range []string{path + " is not the file", fmt.Sprintf("first %d bytes differ", len(old)), "Delete " + checkpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open = %v, want it to say %q", err, want)
		}
	}

	if err := os.Remove(checkpoint); err != nil {
		t.Fatal(err)
	}
	s, err := resume(t, jsonl.Options{File: path})
	if err != nil {
		t.Fatalf("Open without the checkpoint file = %v", err)
	}
	if got := pollAll(t, s); len(got) != 10 {
		t.Errorf("read %q from the new file, want its 10 lines", payloads(got))
	}
}

// longLines returns n lines of about 100 bytes each, so that a few dozen
// of them pass the 4096 bytes of the head fingerprint.
func longLines(n int, mark string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"n":%d,"mark":%q,"pad":%q}`+"\n", i, mark, strings.Repeat("x", 70))
	}
	return b.String()
}

// TestRewrittenLineBeforeOffsetRejected commits a position past the first
// 4096 bytes, then rewrites the file with the same start but another line
// before the committed offset, of the same length. Open must notice it.
func TestRewrittenLineBeforeOffsetRejected(t *testing.T) {
	text := longLines(60, "a")
	path := writeInput(t, text)
	first := open(t, jsonl.Options{File: path}, nil)
	recs := pollAll(t, first)
	committed := recs[49].Position
	if p := position(t, committed); p.Offset <= 4096 {
		t.Fatalf("position %+v, want one past the first 4096 bytes", p)
	}
	if err := first.Commit(context.Background(), committed); err != nil {
		t.Fatal(err)
	}

	lines := strings.SplitAfter(text, "\n")
	lines[49] = strings.Replace(lines[49], `"a"`, `"b"`, 1)
	replaceFile(t, path, strings.Join(lines, ""))

	_, err := resume(t, jsonl.Options{File: path})
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("Open = %v, want a fatal error", err)
	}
	want := fmt.Sprintf("bytes before offset %d differ", position(t, committed).Offset)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open = %v, want it to say %q", err, want)
	}
}

// TestResumeKeepsFingerprints resumes at each position of a file that
// passes the 4096 bytes of the head fingerprint, and checks that the
// positions of the records read then equal those of a read from the
// start. A file that grew after the commit resumes without an error.
func TestResumeKeepsFingerprints(t *testing.T) {
	path := writeInput(t, longLines(30, "a"))
	whole := pollAll(t, open(t, jsonl.Options{File: path, Follow: true}, nil))
	appendInput(t, path, longLines(30, "b"))
	whole = append(whole, pollAll(t, open(t, jsonl.Options{File: path, Follow: true}, whole[len(whole)-1].Position))...)
	if len(whole) != 60 {
		t.Fatalf("read %d records, want 60", len(whole))
	}

	for i := 0; i < len(whole)-1; i += 7 {
		s := open(t, jsonl.Options{File: path}, whole[i].Position)
		rest := pollAll(t, s)
		if len(rest) != len(whole)-i-1 {
			t.Fatalf("resumed after record %d: read %d records, want %d", i, len(rest), len(whole)-i-1)
		}
		for j, r := range rest {
			if got, want := position(t, r.Position), position(t, whole[i+1+j].Position); got != want {
				t.Errorf("resumed after record %d: position of record %d is %+v, want %+v", i, i+1+j, got, want)
			}
		}
	}
}

// TestCheckpointWithoutFingerprintsResumes reads a checkpoint file written
// before positions had fingerprints, and an encoded checkpoint of that
// time. Both resume at their offset.
func TestCheckpointWithoutFingerprintsResumes(t *testing.T) {
	path := writeInput(t, "a\nb\nc\n")
	if err := os.WriteFile(path+jsonl.CheckpointSuffix, []byte(`{"offset":2,"lines":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := resume(t, jsonl.Options{File: path})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if got := strings.Join(payloads(pollAll(t, s)), "|"); got != "b|c" {
		t.Errorf("read %q, want b|c", got)
	}

	legacy := make([]byte, 16)
	binary.BigEndian.PutUint64(legacy, 4)
	binary.BigEndian.PutUint64(legacy[8:], 2)
	p, err := jsonl.DecodeCheckpoint(legacy)
	if err != nil || p != (jsonl.Position{Offset: 4, Lines: 2}) {
		t.Errorf("DecodeCheckpoint of 16 bytes = %+v, %v; want offset 4 after 2 lines", p, err)
	}
}

// TestInvalidFingerprintRejected checks that a checkpoint file whose
// fingerprint covers more bytes than its offset is rejected.
func TestInvalidFingerprintRejected(t *testing.T) {
	path := writeInput(t, "a\n")
	text := `{"offset":2,"lines":1,"head":{"size":3,"sum":1}}`
	if err := os.WriteFile(path+jsonl.CheckpointSuffix, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := jsonl.New(jsonl.Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LastCheckpoint(context.Background())
	if !errors.Is(err, source.ErrFatal) {
		t.Fatalf("LastCheckpoint = %v, want a fatal error", err)
	}
	if !strings.Contains(err.Error(), "head fingerprint of 3 bytes covers more than the offset 2") {
		t.Errorf("LastCheckpoint = %v, want it to name the fingerprint", err)
	}
}
