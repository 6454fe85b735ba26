package ferret

import (
	"context"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestStartServesMongoDBProtocol(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer func() {
		if err := srv.Stop(10 * time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Disconnect(ctx)

	coll := client.Database("ferret_test").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: int32(42)}}); err != nil {
		t.Fatalf("insert: %v", err)
	}

	var got struct {
		N int32 `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil {
		t.Fatalf("find: %v", err)
	}
	if got.N != 42 {
		t.Errorf("n = %d, want 42", got.N)
	}
}

func TestRestartOnSameDirKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first, err := Start(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	insertOne(ctx, t, first.URI(), bson.D{{Key: "_id", Value: "kept"}})
	if err := first.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	second, err := Start(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Start again: %v", err)
	}
	defer second.Stop(10 * time.Second)

	client, err := mongo.Connect(options.Client().ApplyURI(second.URI()))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Disconnect(ctx)
	n, err := client.Database("ferret_test").Collection("docs").CountDocuments(ctx, bson.D{{Key: "_id", Value: "kept"}})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 1 {
		t.Errorf("documents after restart = %d, want 1", n)
	}
}

func TestStopRemovesTemporaryDir(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := srv.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(srv.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s still exists after Stop (stat: %v)", srv.Dir(), err)
	}
}

func insertOne(ctx context.Context, t *testing.T, uri string, doc bson.D) {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Disconnect(ctx)
	if _, err := client.Database("ferret_test").Collection("docs").InsertOne(ctx, doc); err != nil {
		t.Fatalf("insert: %v", err)
	}
}
