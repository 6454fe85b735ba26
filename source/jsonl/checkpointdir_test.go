package jsonl_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// TestUnwritableCheckpointStopsRunBeforePublishing gives the source a
// checkpoint file in a directory that does not exist, where no commit can
// succeed. The Run must fail at once, with an error naming the file,
// before it publishes a line. Otherwise every restart would publish the
// whole file again.
func TestUnwritableCheckpointStopsRunBeforePublishing(t *testing.T) {
	b := danubetest.Start(t)
	client, err := danube.NewClient(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dir := t.TempDir()
	input := filepath.Join(dir, "input.jsonl")
	appendLines(t, input, 0, 50)
	checkpoint := filepath.Join(dir, "missing", "cp")
	conn, err := jsonl.New(jsonl.Options{File: input, Follow: true, CheckpointFile: checkpoint})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	rt, err := source.New(client, conn, source.Options{
		Topic:         processTopic,
		ConnectorName: "lines",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}

	// The deadline only bounds a Run that, wrongly, follows the file.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = rt.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Run kept running until its context ended (%v)", err)
	}
	if !errors.Is(err, source.ErrFatal) {
		t.Errorf("Run = %v, want a fatal error", err)
	}
	if err == nil || !strings.Contains(err.Error(), checkpoint) {
		t.Errorf("Run = %v, want the error to name %s", err, checkpoint)
	}
	if n := rt.Stats().Published; n != 0 {
		t.Errorf("Run published %d lines, want none", n)
	}
	if n := storedCount(b); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

// TestOpenRejectsUnwritableCheckpoint checks the error of Open for each
// checkpoint path where a commit would fail, and that Open leaves no file
// behind when the path is usable.
func TestOpenRejectsUnwritableCheckpoint(t *testing.T) {
	input := writeInput(t, "a\n")
	dir := t.TempDir()
	for _, tc := range []struct{ name, checkpoint, cause string }{
		{"missing directory", filepath.Join(dir, "missing", "cp"), "no such file or directory"},
		{"a directory", dir, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jsonl.New(jsonl.Options{File: input, CheckpointFile: tc.checkpoint})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Open(context.Background(), nil)
			if !errors.Is(err, source.ErrFatal) {
				t.Fatalf("Open = %v, want a fatal error", err)
			}
			if !strings.Contains(err.Error(), tc.checkpoint) {
				t.Errorf("Open = %v, want it to name %s", err, tc.checkpoint)
			}
			if !strings.Contains(err.Error(), tc.cause) {
				t.Errorf("Open = %v, want it to say %q", err, tc.cause)
			}
			if _, err := s.Poll(context.Background()); err == nil {
				t.Error("Poll after a failed Open succeeded, want an error")
			}
		})
	}

	s := open(t, jsonl.Options{File: input, CheckpointFile: filepath.Join(dir, "cp")}, nil)
	s.Close(context.Background())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Open left %d files in the checkpoint directory, want none", len(entries))
	}
}
