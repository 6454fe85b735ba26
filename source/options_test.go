package source_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
)

// both implements Poll and Stream, which leaves its mode ambiguous.
type both struct{ pollLog }

func (both) Stream(context.Context, func(source.Record) error) error { return nil }

func TestNewReportsEveryProblem(t *testing.T) {
	b := danubetest.Start(t)
	client := newClient(t, b)
	conn := pollLog{newLog(nil, 1)}
	valid := testOptions(clock.NewFake(time.Time{}))

	for _, tc := range []struct {
		name      string
		conn      source.Connector
		opts      func(*source.Options)
		nilClient bool
		wants     []string
	}{
		{name: "nil connector and client", nilClient: true, wants: []string{"nil danube client", "nil connector"}},
		{name: "no mode", conn: &logState{}, wants: []string{"implements neither Poll nor Stream"}},
		{name: "two modes", conn: both{conn}, wants: []string{"implements both Poll and Stream"}},
		{
			name: "bad options",
			conn: conn,
			opts: func(o *source.Options) {
				o.Topic = "records"
				o.BatchSize = -1
				o.PollInterval = -time.Second
				o.Routes = []source.Route{{Topic: "/default/a"}, {Topic: "/default/a", Partitions: -2}}
				o.ConnectorName = "a/b"
			},
			wants: []string{"Topic", "BatchSize -1", "PollInterval", `Routes[1].Topic "/default/a" is configured twice`, "Routes[1].Partitions -2"},
		},
		{name: "no topic", conn: conn, opts: func(o *source.Options) { o.Topic = "" }, wants: []string{"Topic is empty"}},
		{name: "slash in name", conn: conn, opts: func(o *source.Options) { o.ConnectorName = "a/b" }, wants: []string{`ConnectorName "a/b" contains '/'`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := valid
			if tc.opts != nil {
				tc.opts(&opts)
			}
			c := client
			if tc.nilClient {
				c = nil
			}
			rt, err := source.New(c, tc.conn, opts)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", rt)
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// resumingLog is a log that stores its checkpoint and reads it back.
type resumingLog struct {
	pollLog
	stored source.Checkpoint
}

func (r resumingLog) LastCheckpoint(context.Context) (source.Checkpoint, error) { return r.stored, nil }

func TestResumerCheckpointOpensFirstRun(t *testing.T) {
	b := danubetest.Start(t)
	log := newLog(makeRecords(10), 10)
	conn := resumingLog{pollLog: pollLog{log}, stored: pos(4)}
	rt := newRuntime(t, newClient(t, b), conn, testOptions(clock.NewFake(time.Time{})))

	for range 2 {
		if err := rt.Run(context.Background()); err != nil {
			t.Fatalf("Run = %v", err)
		}
	}
	if len(log.opens) != 2 || unpos(t, log.opens[0]) != 4 || unpos(t, log.opens[1]) != 10 {
		t.Errorf("opens at %x, want 4 (read back) then 10 (committed)", log.opens)
	}
	counts := payloadCounts(b, testTopic)
	if counts[payload(3)] != 0 || counts[payload(4)] != 1 || len(counts) != 6 {
		t.Errorf("stored %v, want records 4 to 9 once each", counts)
	}
}
