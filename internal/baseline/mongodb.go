package baseline

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// InsertMany returns the documents per second that a plain loop of
// unordered InsertMany calls, batchSize documents each, writes into a fresh
// collection of the server at uri. The collection is dropped afterwards.
func InsertMany(ctx context.Context, uri string, docs []bson.Raw, batchSize int) (float64, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, err
	}
	defer client.Disconnect(context.Background())

	coll := client.Database("baseline").Collection(fmt.Sprintf("insert_many_%d", time.Now().UnixNano()))
	defer coll.Drop(context.Background())

	batch := make([]any, 0, batchSize)
	unordered := options.InsertMany().SetOrdered(false)
	start := time.Now()
	for i, doc := range docs {
		batch = append(batch, doc)
		if len(batch) == batchSize || i == len(docs)-1 {
			if _, err := coll.InsertMany(ctx, batch, unordered); err != nil {
				return 0, fmt.Errorf("insert batch ending at document %d: %w", i, err)
			}
			batch = batch[:0]
		}
	}
	return float64(len(docs)) / time.Since(start).Seconds(), nil
}
