package mongotest

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestInsertedDocumentsReadBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	coll := Database(t).Collection("events")
	docs := []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "kind", Value: "created"}, {Key: "amount", Value: int64(1) << 53}},
		bson.D{{Key: "_id", Value: 2}, {Key: "kind", Value: "paid"}, {Key: "amount", Value: int32(7)}},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatalf("insert: %v", err)
	}

	var got bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatalf("find: %v", err)
	}
	if amount, ok := got[2].Value.(int64); !ok || amount != int64(1)<<53 {
		t.Errorf("amount = %#v, want int64 %d", got[2].Value, int64(1)<<53)
	}

	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 2 {
		t.Errorf("count = %d, want 2", n)
	}
}

func TestServerRestartKeepsData(t *testing.T) {
	srv := StartServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := Connect(t, srv.URI())
	coll := client.Database("restart").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "kept"}}); err != nil {
		t.Fatalf("insert: %v", err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}

	n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "kept"}})
	if err != nil {
		t.Fatalf("count after restart: %v", err)
	}
	if n != 1 {
		t.Errorf("documents after restart = %d, want 1", n)
	}
}

func TestRedactHidesPassword(t *testing.T) {
	got := Redact("mongodb://app:s3cret@db.example:27017/?authSource=admin")
	if got != "mongodb://app:xxxxx@db.example:27017/?authSource=admin" {
		t.Errorf("Redact = %q", got)
	}
}
