// Package danubetest runs an in-process Danube broker for tests and
// programs. It serves the broker's gRPC protocol on 127.0.0.1: the client
// services (ProducerService, ConsumerService, Discovery, HealthCheck, the
// schema registry) on one port and the admin services on another, both free
// ports unless WithAddr and WithAdminAddr set them. It
// follows the rules of broker v0.15.1, defaults included, so any Danube
// client can be tested against it without running the Rust broker.
//
// A test starts a broker and points a client at its URL:
//
//	func TestSink(t *testing.T) {
//		b := danubetest.Start(t) // closed when the test ends
//		client := danube.NewClient(b.URL())
//		...
//	}
//
// Programs without a testing.T call New and Close. The command
// cmd/danube-test-broker runs a broker as a process of its own, on the real
// broker's default ports, for programs that need a broker address.
//
// # What it models
//
// Reliable topics store every message with offsets from 0. Each reliable
// subscription has a dispatcher with an in-flight window (10 by default,
// WithWindow and the admin dispatch config change it), starts at the latest
// message, tracks a cursor (the highest offset up to which every message is
// acknowledged), redelivers on ack timeout, nack, reconnect and takeover
// under the subscription's failure policy, and applies the poison policy
// (Block, Drop or DeadLetter) past the redelivery limit. Non-reliable topics
// drop messages a consumer has no room for. Subscriptions are Exclusive,
// Shared, Failover or Key-Shared. Partitioned topics, namespaces, topic-name
// rules, auto-creation, JWT authentication and the status codes of every
// failure follow the broker. As on the broker, a request over 4 MiB fails
// with OUT_OF_RANGE, and a delivery may be larger than that.
//
// NewCluster and StartCluster start brokers that share metadata, so lookups
// return Redirect and MoveTopic hands a topic over.
//
// # Time, faults and inspection
//
// Every timer runs on the clock given with WithClock, so tests advance a
// fake clock instead of sleeping. FailNext, Delay, DropReceiveStreams,
// DrainTopic, UnloadTopic, MoveTopic, Stop and Restart inject failures.
// Messages, Subscription, DeliveryCount, Consumers and Producers expose the
// broker's state for assertions.
//
// # Differences from the broker
//
// Stored messages are kept in memory and never trimmed. A consumer's gRPC
// stream buffers what HTTP/2 flow control allows rather than 4 messages, so
// slow non-reliable consumers lose fewer messages. A window stored with
// SetSubscriptionDispatchConfig applies to subscriptions started after the
// call, where broker v0.15.1 stores it without using it. Key-Shared fills
// its window in one pass, keeps inactive consumers on the ring and
// redelivers a disconnected consumer's messages at once. In a cluster, a
// topic a producer creates belongs to the broker it asked, at once, where a
// broker in cluster mode answers UNAVAILABLE until its load manager has
// placed the topic. Of the admin calls it serves the ones a connector
// needs, and DeleteTopic, for one, returns UNIMPLEMENTED. UnloadTopic
// behaves as in a cluster, where a standalone broker returns UNIMPLEMENTED.
//
// Broker v0.15.1 also loses messages where this package does not: a new
// subscription reads the newest messages through a buffer of 256, and when
// publishing outruns its consumer by more than that, the messages it
// skipped are never delivered. This package delivers them, as the
// protocol's reliable dispatch promises. So tests that publish large
// bursts to a new subscription pass here and lose messages against that
// broker.
package danubetest
