package sink

import "time"

// Record is one message from the broker, as a sink connector receives it.
//
// A record may be delivered more than once: after a nack, an ack timeout, a
// consumer reconnect or a broker restart the broker sends it again. A
// Source drops a repeat that comes while the first delivery is still in
// its pipeline, except at offset 0 (see Source.Receive). The other
// repeats reach the connector: one after the first delivery was settled,
// and one after the route subscribed again. PartitionTopic and Offset identify
// a record across deliveries on a reliable topic. PublishTime, which the
// broker stores with the message, distinguishes two records at one offset
// after the topic's offsets started over. A connector that derives its
// write key from these fields writes idempotently.
type Record struct {
	// Topic is the topic the connector subscribed to, without a partition
	// suffix, for example /default/orders.
	Topic string
	// PartitionTopic is the topic the message was stored on: Topic itself,
	// or Topic-part-N for partition N of a partitioned topic.
	PartitionTopic string
	// Partition is the partition number, 0 for a topic without partitions.
	Partition int
	// Offset is the message's position in PartitionTopic, assigned by the
	// broker from 0 on reliable topics. It is always 0 on non-reliable
	// topics, which keep no storage.
	Offset uint64
	// Subscription is the subscription the message was received on.
	Subscription string
	// Attempt is the delivery attempt, from 1, as counted by the route's
	// consumer. The broker does not send its own count, so the count
	// starts again from 1 when the route subscribes again: after the
	// connector was reopened, and after the process restarted.
	Attempt int
	// Payload is the message body.
	Payload []byte
	// Attributes are the message's key-value attributes.
	Attributes map[string]string
	// Key is the routing key, empty if the producer set none.
	Key string
	// Producer is the name of the producer that published the message.
	Producer string
	// PublishTime is the producer's clock when it published the message.
	PublishTime time.Time
	// SchemaID and SchemaVersion identify the payload's schema in the
	// broker's registry; both are 0 when the message has no schema.
	SchemaID      uint64
	SchemaVersion uint32
}
