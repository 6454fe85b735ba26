package baseline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGRPCUnaryCountsCalls(t *testing.T) {
	rate, err := GRPCUnary(4, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("GRPCUnary: %v", err)
	}
	if rate <= 0 {
		t.Errorf("rate = %v, want > 0", rate)
	}
}

func TestGRPCServerStreamDeliversAll(t *testing.T) {
	rate, err := GRPCServerStream(1000)
	if err != nil {
		t.Fatalf("GRPCServerStream: %v", err)
	}
	if rate <= 0 {
		t.Errorf("rate = %v, want > 0", rate)
	}
}

func TestChainsPassEveryMessage(t *testing.T) {
	if _, err := Chain(10_000); err != nil {
		t.Errorf("Chain: %v", err)
	}
	if _, err := ChainBatched(10_500, 1000); err != nil {
		t.Errorf("ChainBatched: %v", err)
	}
}

func TestInsertManyWritesAll(t *testing.T) {
	uri := mongotest.URI(t)
	docs := make([]bson.Raw, 2500)
	for i := range docs {
		raw, err := bson.Marshal(bson.D{{Key: "n", Value: i}, {Key: "s", Value: fmt.Sprint("doc ", i)}})
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = raw
	}
	rate, err := InsertMany(context.Background(), uri, docs, 1000)
	if err != nil {
		t.Fatalf("InsertMany: %v", err)
	}
	if rate <= 0 {
		t.Errorf("rate = %v, want > 0", rate)
	}
}
