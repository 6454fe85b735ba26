package danube

import "time"

// Message is a message to send, or a message received from a Consumer.
//
// For Send, Payload, Attributes, RoutingKey and PublishTime are read and
// the other fields ignored; the Message (and its Payload and Attributes)
// must not be modified until the send completes. A received Message is
// owned by the caller, except that ID must be left as delivered: Ack and
// Nack send it back to the broker verbatim.
type Message struct {
	// Payload is the message body. Its encoding is the application's
	// business; a schema only labels it.
	Payload []byte
	// Attributes are string key-value pairs sent with the message.
	Attributes map[string]string
	// RoutingKey picks the partition of a partitioned topic (FNV-1a of the
	// key modulo the partition count) and the consumer of a Key-Shared
	// subscription. "" means none: round robin over partitions, and the
	// broker uses the producer name as the key.
	RoutingKey string
	// PublishTime is stamped by the producer, with millisecond precision;
	// the broker does not set it. Zero on Send means now.
	PublishTime time.Time

	// ID identifies a received message: the partition it came from and its
	// offset there. Ack and Nack need it unchanged.
	ID MessageID
	// ProducerName is the name of the producer that sent the message.
	ProducerName string
	// HasSchema reports whether the message carries a schema id.
	HasSchema bool
	// SchemaID and SchemaVersion name the schema the producer declared,
	// when HasSchema is true; look it up with Client.Schemas.
	SchemaID      uint64
	SchemaVersion uint32
	// DeliveryAttempt counts how many times this Consumer has received
	// this message, starting at 1. It is counted on the client: deliveries
	// to another consumer, or before a restart of this one, are not seen.
	DeliveryAttempt int

	requestID uint64    // the producer's request id, part of deliveryKey
	receiver  *Consumer // the Consumer that received it; Ack and Nack check it
}

// MessageID is the broker's identifier of a delivered message.
type MessageID struct {
	// ProducerID is the broker-assigned id of the producer.
	ProducerID uint64
	// Topic is the topic or partition (/ns/t-part-N) the message was
	// published to; acks are routed by it.
	Topic string
	// BrokerAddr is the broker that accepted the message, for information.
	BrokerAddr string
	// Offset is the message's position in its partition on a reliable
	// topic (0, 1, 2, …). It is always 0 on a non-reliable topic.
	Offset uint64
}

// Partition returns the index of the partition the message came from, or
// -1 for a message from a non-partitioned topic.
func (m *Message) Partition() int {
	if _, i, ok := SplitPartition(m.ID.Topic); ok {
		return i
	}
	return -1
}

// publishMillis converts t to the protocol's publish time, milliseconds
// since the Unix epoch; times before the epoch become 0.
func publishMillis(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// fromMillis converts a protocol publish time to a time.Time; 0 stays the
// zero time.
func fromMillis(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}

func (m *Message) deliveryKey() deliveryKey {
	return deliveryKey{offset: m.ID.Offset, producerID: m.ID.ProducerID, requestID: m.requestID}
}
