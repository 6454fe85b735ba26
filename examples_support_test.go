package connect_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// The helpers of the examples provide what a real deployment has already
// (a broker, topics, producers) and the checks that only an example needs.
// They panic on failure, because an Example has no testing.T to fail.

// waitLimit bounds every wait of the examples, far above what they take.
const waitLimit = 30 * time.Second

// startBroker starts an in-process Danube broker on 127.0.0.1.
func startBroker() *danubetest.Broker {
	broker, err := danubetest.New(danubetest.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(fmt.Sprintf("start the in-process broker: %v", err))
	}
	return broker
}

// createTopic creates a reliable topic through the admin API, as an
// operator does before a sink subscribes: consumers never create topics.
func createTopic(broker *danubetest.Broker, topic string) {
	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		panic(err)
	}
	defer admin.Close()

	if err := admin.CreateTopic(context.Background(), topic, danube.TopicOptions{Reliable: true}); err != nil {
		panic(fmt.Sprintf("create topic %s: %v", topic, err))
	}
}

// publish sends each payload to topic, in order, as a producer of another
// service would.
func publish(broker *danubetest.Broker, topic string, payloads ...string) {
	msgs := make([]danube.Message, len(payloads))
	for i, p := range payloads {
		msgs[i] = danube.Message{Payload: []byte(p)}
	}
	publishMessages(broker, topic, msgs...)
}

// examplePublishTime is the publish time of the examples' first message.
// Fixed times make the printed _ids the same on every run.
var examplePublishTime = time.Date(2026, 12, 5, 6, 30, 0, 0, time.UTC)

// publishMessages sends msgs to topic, in order. A message without a
// publish time gets one from examplePublishTime, a millisecond apart.
func publishMessages(broker *danubetest.Broker, topic string, msgs ...danube.Message) {
	ctx := context.Background()
	client, err := danube.NewClient(broker.URL())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: topic, Name: "example-producer", Reliable: true})
	if err != nil {
		panic(fmt.Sprintf("producer on %s: %v", topic, err))
	}
	defer producer.Close()

	for i, m := range msgs {
		if m.PublishTime.IsZero() {
			m.PublishTime = examplePublishTime.Add(time.Duration(i) * time.Millisecond)
		}
		if err := producer.Send(ctx, m); err != nil {
			panic(fmt.Sprintf("send to %s: %v", topic, err))
		}
	}
}

// waitFor polls cond until it holds, and panics naming what it waited for
// when waitLimit passes first.
func waitFor(what string, cond func() bool) {
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("timed out after %v waiting until %s", waitLimit, what))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nameCounter keeps the database names of one process distinct.
var nameCounter atomic.Int64

// uniqueName returns a database name that starts with prefix and that no
// earlier run used, so that examples against a shared MongoDB server
// never see each other's documents.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, nameCounter.Add(1))
}

// printDocuments prints the documents of a collection in _id order, as
// relaxed Extended JSON, and then drops the database.
func printDocuments(database, collection string) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		panic(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	db := client.Database(database)
	defer func() { _ = db.Drop(ctx) }()

	cursor, err := db.Collection(collection).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		panic(fmt.Sprintf("read %s.%s: %v", database, collection, err))
	}
	var docs []bson.Raw
	if err := cursor.All(ctx, &docs); err != nil {
		panic(err)
	}
	for _, d := range docs {
		text, err := bson.MarshalExtJSON(d, false, false)
		if err != nil {
			panic(err)
		}
		fmt.Println(strings.TrimSpace(string(text)))
	}
}
