// Package danubetest runs an in-process Danube broker for tests and
// programs. It serves the broker's gRPC protocol on 127.0.0.1: the client
// services (ProducerService, ConsumerService, Discovery, HealthCheck, the
// schema registry) on one port and the admin services on another. It
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
// Programs without a testing.T call New and Close.
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
// failure follow the broker.
//
// NewCluster and StartCluster start brokers that share metadata, so lookups
// return Redirect and MoveTopic hands a topic over.
//
// # Time, faults and inspection
//
// Every timer runs on the clock given with WithClock, so tests advance a
// fake clock instead of sleeping. FailNext, Delay, DropReceiveStreams,
// DrainTopic, UnloadTopic, MoveTopic, Stop and Restart inject failures.
// Messages, Subscription, DeliveryCount and Consumers expose the broker's
// state for assertions.
package danubetest
