package sink

import (
	"strconv"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// The attributes that the runtime adds to a record it sends to the
// dead-letter topic, besides the record's own attributes, which it keeps.
// The names of the first five are those the broker gives the messages its
// poison policy moves to a dead-letter topic, so that one consumer of the
// dead-letter topic reads both kinds.
const (
	// AttrOriginalTopic is the topic the record was stored on: the
	// partition's name for a partitioned topic, as Record.PartitionTopic.
	AttrOriginalTopic = "x-original-topic"
	// AttrOriginalSubscription is the subscription it was received on.
	AttrOriginalSubscription = "x-original-subscription"
	// AttrOriginalOffset is its offset on AttrOriginalTopic, in decimal.
	AttrOriginalOffset = "x-original-topic-offset"
	// AttrDeliveryAttempt is the delivery attempt that failed, from 1, as
	// Record.Attempt.
	AttrDeliveryAttempt = "x-delivery-attempt"
	// AttrFailureReason is why the record failed: the text of the
	// connector's error, or for a stage that Options.Transform added,
	// "stage <name>: " and the text of its function's error.
	AttrFailureReason = "x-failure-reason"

	// AttrOriginalBaseTopic is the topic the route consumes, without a
	// partition suffix, as Record.Topic.
	AttrOriginalBaseTopic = "x-original-base-topic"
	// AttrOriginalPartition is the partition number, 0 for a topic
	// without partitions.
	AttrOriginalPartition = "x-original-partition"
	// AttrOriginalProducer is the name of the producer that published the
	// record.
	AttrOriginalProducer = "x-original-producer"
	// AttrOriginalPublishTime is the record's publish time, in
	// milliseconds since the Unix epoch.
	AttrOriginalPublishTime = "x-original-publish-time"
	// AttrConnector is the name of the connector that rejected the record.
	AttrConnector = "x-connector"
)

// deadLetterMessage returns the message that carries d to the dead-letter
// topic: its payload and routing key, its attributes, and the attributes
// above. The schema is not carried over: the dead-letter topic holds
// records that did not fit their schema's consumer, whatever the schema.
func deadLetterMessage(d *delivery, reason, connector string) danube.Message {
	r := &d.rec
	attrs := make(map[string]string, len(r.Attributes)+10)
	for k, v := range r.Attributes {
		attrs[k] = v
	}
	attrs[AttrOriginalTopic] = r.PartitionTopic
	attrs[AttrOriginalSubscription] = r.Subscription
	attrs[AttrOriginalOffset] = strconv.FormatUint(r.Offset, 10)
	attrs[AttrDeliveryAttempt] = strconv.Itoa(r.Attempt)
	attrs[AttrFailureReason] = reason
	attrs[AttrOriginalBaseTopic] = r.Topic
	attrs[AttrOriginalPartition] = strconv.Itoa(r.Partition)
	attrs[AttrOriginalProducer] = r.Producer
	if !r.PublishTime.IsZero() {
		attrs[AttrOriginalPublishTime] = strconv.FormatInt(r.PublishTime.UnixMilli(), 10)
	}
	attrs[AttrConnector] = connector
	return danube.Message{Payload: r.Payload, Attributes: attrs, RoutingKey: r.Key}
}
