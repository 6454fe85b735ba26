package danube_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// startBroker starts an in-process broker for the examples; a program
// would connect to its broker's URL instead.
func startBroker() *danubetest.Broker {
	b, err := danubetest.New()
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// A consumer subscribes first (a new reliable subscription starts at the
// latest message), a producer publishes, and the consumer receives and
// acknowledges.
func Example() {
	broker := startBroker()
	defer broker.Close()
	ctx := context.Background()

	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(ctx, "/default/orders", danube.TopicOptions{Reliable: true}); err != nil {
		log.Fatal(err)
	}

	consumer, err := client.NewConsumer(ctx, danube.ConsumerOptions{Topic: "/default/orders", Subscription: "billing"})
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()

	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/orders", Reliable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	err = producer.Send(ctx, danube.Message{
		Payload:    []byte(`{"id":42}`),
		Attributes: map[string]string{"source": "web"},
	})
	if err != nil {
		log.Fatal(err)
	}

	msg, err := consumer.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %s at offset %d, attempt %d\n", msg.Payload, msg.Attributes["source"], msg.ID.Offset, msg.DeliveryAttempt)
	if err := consumer.Ack(ctx, msg); err != nil {
		log.Fatal(err)
	}
	// Output: {"id":42} from web at offset 0, attempt 1
}

// SendAsync keeps many sends in flight; Flush waits for all of them.
func ExampleProducer_SendAsync() {
	broker := startBroker()
	defer broker.Close()
	ctx := context.Background()

	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/events", MaxInFlight: 64})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	var mu sync.Mutex
	failed := 0
	for i := range 1000 {
		producer.SendAsync(ctx, danube.Message{Payload: fmt.Appendf(nil, "event %d", i)}, func(err error) {
			if err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("failed:", failed, "stored:", len(broker.Messages("/default/events")))
	// Output: failed: 0 stored: 1000
}

// Partitioned topics spread messages over partitions: by routing key, so
// that one key always lands on the same partition, or round robin.
func ExampleProducerOptions_partitions() {
	broker := startBroker()
	defer broker.Close()
	ctx := context.Background()

	client, err := danube.NewClient(broker.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	producer, err := client.NewProducer(ctx, danube.ProducerOptions{Topic: "/default/payments", Partitions: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	for range 2 {
		if err := producer.Send(ctx, danube.Message{Payload: []byte("x"), RoutingKey: "customer-7"}); err != nil {
			log.Fatal(err)
		}
	}
	for i := range 3 {
		part := danube.PartitionName("/default/payments", i)
		fmt.Println(part, len(broker.Messages(part)))
	}
	// Output:
	// /default/payments-part-0 2
	// /default/payments-part-1 0
	// /default/payments-part-2 0
}

// A failure policy sends messages that keep failing to a dead-letter topic
// instead of blocking the subscription. Set it before the subscription
// starts.
func ExampleAdmin_SetFailurePolicy() {
	broker := startBroker()
	defer broker.Close()
	ctx := context.Background()

	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	for _, topic := range []string{"/default/jobs", "/default/jobs_dlq"} {
		if err := admin.CreateTopic(ctx, topic, danube.TopicOptions{Reliable: true}); err != nil {
			log.Fatal(err)
		}
	}

	err = admin.SetFailurePolicy(ctx, "/default/jobs", "workers", danube.FailurePolicy{
		MaxRedeliveryCount:  3,
		AckTimeout:          30 * time.Second,
		BaseRedeliveryDelay: time.Second,
		MaxRedeliveryDelay:  time.Minute,
		Backoff:             danube.ExponentialBackoff,
		DeadLetterTopic:     "/default/jobs_dlq",
		PoisonPolicy:        danube.DeadLetter,
	})
	if err != nil {
		log.Fatal(err)
	}
	policy, _, err := admin.GetFailurePolicy(ctx, "/default/jobs", "workers")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(policy.DeadLetterTopic, policy.MaxRedeliveryCount)
	// Output: /default/jobs_dlq 3
}
