package jsonl_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// runOnce publishes input through a new Source and Runtime, as a new
// process would, until the end of the file.
func runOnce(t *testing.T, client *danube.Client, input string) {
	t.Helper()
	conn, err := jsonl.New(jsonl.Options{File: input, PositionAttributes: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := source.New(client, conn, source.Options{
		Topic:         processTopic,
		ConnectorName: "lines",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestRuntimeResumesFromCheckpointFile(t *testing.T) {
	b := danubetest.Start(t)
	client, err := danube.NewClient(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	input := filepath.Join(t.TempDir(), "input.jsonl")

	appendLines(t, input, 0, 300)
	runOnce(t, client, input)
	appendLines(t, input, 300, 450)
	runOnce(t, client, input)

	counts := lineCounts(b)
	for n := range 450 {
		if c := counts[inputLine(n)]; c != 1 {
			t.Errorf("line %d stored %d times, want once", n, c)
		}
	}
	if cp := readCheckpoint(t, input); cp.Lines != 450 || cp.Offset != offsetAfter(450) {
		t.Errorf("checkpoint %+v, want 450 lines at offset %d", cp, offsetAfter(450))
	}
	last := b.Messages(processTopic)[len(b.Messages(processTopic))-1]
	if last.Attributes[jsonl.AttrLine] == "" || last.Attributes[jsonl.AttrOffset] == "" {
		t.Errorf("attributes %v, want the line's number and offset", last.Attributes)
	}
}
