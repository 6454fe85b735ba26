package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// This example configures a sink from code and the environment
// (MONGODB_CONNECTION_STRING and the rest), writes one batch and reads what
// failed. In a program the sink runtime makes these calls.
func Example() {
	cfg := mongodb.Config{
		Database:       "shop",
		Collection:     "events",
		Collections:    map[string]string{"/default/orders": "orders"},
		WriteModel:     mongodb.WriteReplace,
		TimestampField: "published_at",
	}
	if err := cfg.ApplyEnv(nil); err != nil {
		log.Fatal(err)
	}
	s, err := mongodb.New(cfg, mongodb.WithLogger(slog.Default()))
	if err != nil {
		log.Fatal(err) // every configuration problem, each naming its key
	}

	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	batch := []*sink.Record{{
		Topic:       "/default/orders",
		Offset:      7,
		Payload:     []byte(`{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"total":{"$numberDecimal":"19.90"},"placed":{"$date":"2024-05-06T07:08:09Z"}}`),
		PublishTime: time.Now(),
	}}
	var batchErr *sink.BatchError
	if err := s.Write(ctx, batch); errors.As(err, &batchErr) {
		for _, f := range batchErr.Failures {
			fmt.Printf("record %d: %v: %v\n", f.Index, sink.ClassOf(f.Err), f.Err)
		}
	}
}

func ExampleDeterministicID() {
	r := &sink.Record{
		Topic:       "/default/orders",
		Partition:   2,
		Offset:      1041,
		PublishTime: time.Date(2026, 12, 5, 6, 30, 0, 0, time.UTC),
	}
	fmt.Println(mongodb.DeterministicID(r))
	// Output: /default/orders:2:1041:1796452200000
}

func ExampleConfig_Validate() {
	cfg := mongodb.Config{
		ConnectionString: "mongodb://app:secret@db:27017/?w=0",
		Collection:       "events",
		WriteModel:       "upsert",
	}
	fmt.Println(cfg.Validate())
	// Output:
	// mongodb config connection_string (MONGODB_CONNECTION_STRING): w=0 is not allowed: unacknowledged writes leave the sink unable to know which documents were written, which defeats at-least-once delivery; remove w=0 or set w=1 or w=majority
	// mongodb config database (MONGODB_DATABASE): missing: set the database to write to
	// mongodb config write_model (WRITE_MODEL): "upsert" is not one of insert, replace, update
}
