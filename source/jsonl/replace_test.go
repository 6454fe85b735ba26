package jsonl_test

import (
	"context"
	"errors"
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
