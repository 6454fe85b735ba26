package stage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/stage"
)

// delivery is how a source might acknowledge one broker message; a real
// one would queue the acknowledgement for the broker.
type delivery struct{ id int }

func (delivery) Ack()                       {}
func (delivery) Nack(time.Duration, string) {}
func (delivery) DeadLetter(reason string)   {}

// payloads returns a source that hands over the payloads, then ends.
func payloads(raw ...string) stage.Source[[]byte] {
	next := 0
	return stage.SourceFunc[[]byte](func(_ context.Context, buf []stage.Msg[[]byte]) (int, error) {
		n := 0
		for n < len(buf) && next < len(raw) {
			buf[n] = stage.NewMsg([]byte(raw[next]), len(raw[next]), delivery{id: next})
			n++
			next++
		}
		if next == len(raw) {
			return n, io.EOF
		}
		return n, nil
	})
}

type order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
	Region   string  `json:"-"`
}

// Compose a custom filter and an enrichment stage between the decoder and
// the writer: each is an ordinary function, and the types are checked when
// the pipeline is compiled.
func Example() {
	regions := map[string]string{"ada": "eu", "grace": "us"}

	p := stage.New("orders", stage.Options{})
	raw := stage.From(p, "consume", payloads(
		`{"id":"o1","customer":"ada","amount":12.5}`,
		`{"id":"o2","customer":"grace","amount":0}`,
		`not json`,
		`{"id":"o3","customer":"grace","amount":99}`,
	))
	orders := stage.Then(raw, "decode", stage.Map(func(_ context.Context, b []byte) (order, error) {
		var o order
		err := json.Unmarshal(b, &o)
		return o, err // an error dead-letters the message
	}))
	paid := stage.Then(orders, "paid", stage.Filter(func(o order) bool { return o.Amount > 0 }))
	enriched := stage.Then(paid, "enrich", stage.Map(func(_ context.Context, o order) (order, error) {
		o.Region = regions[o.Customer]
		return o, nil
	}))
	batches := stage.Batch(enriched, "batch", stage.BatchOptions{MaxCount: 100})
	stage.Write(batches, "write", stage.WriterFunc[order](func(_ context.Context, batch []stage.Msg[order]) error {
		for _, m := range batch {
			fmt.Printf("write %s for %s in %s\n", m.Value.ID, m.Value.Customer, m.Value.Region)
		}
		return nil
	}), stage.WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
	}
	st := p.Stats()
	fmt.Printf("acked %d, dead-lettered %d\n", st.Acked, st.DeadLettered)
	// Output:
	// write o1 for ada in eu
	// write o3 for grace in us
	// acked 3, dead-lettered 1
}

// Split one message into several: the original message is acked only once
// every part is written.
func ExampleFlatMap() {
	p := stage.New("lines", stage.Options{})
	docs := stage.From(p, "consume", payloads("a b c", "d e"))
	words := stage.Then(docs, "split", stage.FlatMap(func(_ context.Context, b []byte) ([]string, error) {
		return strings.Fields(string(b)), nil
	}))
	var written []string
	stage.Write(stage.Batch(words, "batch", stage.BatchOptions{}), "write",
		stage.WriterFunc[string](func(_ context.Context, batch []stage.Msg[string]) error {
			for _, m := range batch {
				written = append(written, m.Value)
			}
			return nil
		}), stage.WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
	}
	fmt.Println(strings.Join(written, " "))
	fmt.Println("acked messages:", p.Stats().Acked)
	// Output:
	// a b c d e
	// acked messages: 2
}

// A writer that wrote part of a batch reports the rest with a BatchError:
// written messages are acked, and each failure is retried, nacked or
// dead-lettered according to its error.
func ExampleBatchError() {
	p := stage.New("users", stage.Options{})
	names := stage.Then(stage.From(p, "consume", payloads("ann", "", "bob")), "decode",
		stage.Map(func(_ context.Context, b []byte) (string, error) { return string(b), nil }))
	stage.Write(stage.Batch(names, "batch", stage.BatchOptions{}), "write",
		stage.WriterFunc[string](func(_ context.Context, batch []stage.Msg[string]) error {
			var be stage.BatchError
			for i, m := range batch {
				if m.Value == "" {
					be.Failed = append(be.Failed, stage.Failure{Index: i, Err: stage.Permanent(errors.New("empty name"))})
					continue
				}
				fmt.Println("insert", m.Value)
			}
			if len(be.Failed) > 0 {
				return &be
			}
			return nil
		}), stage.WriteOptions{})

	if err := p.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
	}
	st := p.Stats()
	fmt.Printf("acked %d, dead-lettered %d\n", st.Acked, st.DeadLettered)
	// Output:
	// insert ann
	// insert bob
	// acked 2, dead-lettered 1
}
