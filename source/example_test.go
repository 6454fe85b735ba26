package source_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/source"
)

// ticker is a small source connector in poll mode: it counts from its
// checkpoint up to limit, one record per Poll. Its checkpoint is the next
// number, in decimal; a real connector would persist it in Commit and
// read it back in LastCheckpoint (source.Resumer).
type ticker struct {
	next, limit int
	committed   string
}

func (c *ticker) Open(_ context.Context, cp source.Checkpoint) error {
	if cp == nil {
		return nil // from the start
	}
	n, err := strconv.Atoi(string(cp))
	if err != nil {
		return source.Fatal(fmt.Errorf("invalid checkpoint %q: %w", cp, err))
	}
	c.next = n
	return nil
}

func (c *ticker) Poll(context.Context) ([]source.Record, error) {
	if c.next >= c.limit {
		return nil, io.EOF // the input is exhausted: the Run drains and returns
	}
	n := c.next
	c.next++
	return []source.Record{{
		Payload:  fmt.Appendf(nil, "tick %d", n),
		Key:      "ticker",
		Position: source.Checkpoint(strconv.Itoa(n + 1)), // resume after this record
	}}, nil
}

func (c *ticker) Commit(_ context.Context, cp source.Checkpoint) error {
	c.committed = string(cp)
	return nil
}

func (c *ticker) Close(context.Context) error  { return nil }
func (c *ticker) Health(context.Context) error { return nil }

// Example runs a custom source connector against an in-process broker:
// the runtime publishes its records, in order since one send at a time is
// in flight, and commits the checkpoint of the last one once the broker
// has acknowledged it.
func Example() {
	broker, err := danubetest.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer broker.Close()
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	conn := &ticker{limit: 3}
	rt, err := source.New(client, conn, source.Options{
		Topic:       "/default/ticks",
		MaxInFlight: 1,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	for _, m := range broker.Messages("/default/ticks") {
		fmt.Printf("%s (key %s)\n", m.Payload, m.RoutingKey)
	}
	fmt.Println("committed:", conn.committed)
	fmt.Println("published:", rt.Stats().Published)
	// Output:
	// tick 0 (key ticker)
	// tick 1 (key ticker)
	// tick 2 (key ticker)
	// committed: 3
	// published: 3
}
