package otel

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ScopeName is the instrumentation scope of every meter and tracer this
// package makes: the import path of the package.
const ScopeName = "github.com/danube-messaging/danube-connect-go/otel"

// The names of the metrics, as OpenTelemetry sees them. A Prometheus
// exporter turns the dots into underscores and appends the unit and, for
// counters, _total: MetricMessagesFailed is scraped as
// danube_connector_messages_failed_total. The two messaging.client metrics
// are those of the OpenTelemetry messaging semantic conventions (v1.43.0);
// the others have no counterpart there and carry the danube.connector
// prefix.
const (
	// MetricStageReceived counts the messages each stage took from its
	// input; for the entry stage, from its source.
	MetricStageReceived = "danube.connector.stage.received"
	// MetricStageSent counts the messages each stage passed on.
	MetricStageSent = "danube.connector.stage.sent"
	// MetricMessagesSettled counts settled messages by outcome, in the
	// attribute messaging.operation.name: ack, nack or dead_letter.
	MetricMessagesSettled = "danube.connector.messages.settled"
	// MetricMessagesFailed counts the messages of failed write attempts and
	// failed transforms by error class, in the attribute error.type:
	// retryable, invalid_data or fatal.
	MetricMessagesFailed = "danube.connector.messages.failed"
	// MetricMessagesRetried counts the messages written again after a
	// failed attempt.
	MetricMessagesRetried = "danube.connector.messages.retried"
	// MetricMessagesRedelivered counts the messages that the broker
	// delivered more than once, as the consuming runtime reports them.
	MetricMessagesRedelivered = "danube.connector.messages.redelivered"
	// MetricMessagesDuplicates counts the redeliveries that the consuming
	// runtime dropped on receipt because it still held the message's
	// first delivery. They are counted in MetricMessagesRedelivered too.
	MetricMessagesDuplicates = "danube.connector.messages.duplicates"
	// MetricMessagesPending is the gauge of messages admitted into a
	// pipeline and not yet settled, so not yet acknowledged to the broker.
	MetricMessagesPending = "danube.connector.messages.pending"
	// MetricPendingSize is the gauge of the bytes of those messages.
	MetricPendingSize = "danube.connector.pending.size"
	// MetricQueueDepth is the gauge of the chunks waiting in the channel
	// between two stages.
	MetricQueueDepth = "danube.connector.queue.depth"
	// MetricQueueCapacity is the gauge of the capacity of that channel.
	MetricQueueCapacity = "danube.connector.queue.capacity"
	// MetricBatchSize is the histogram of the messages in each write
	// attempt.
	MetricBatchSize = "danube.connector.batch.size"
	// MetricWriteDuration is the histogram of the seconds each write
	// attempt took.
	MetricWriteDuration = "danube.connector.write.duration"
	// MetricLag is the histogram of the age of the oldest message of each
	// batch when it was written: the write time less the publish time
	// that the producer stamped, in seconds.
	MetricLag = "danube.connector.lag"
	// MetricSupervisorRestarts counts the restarts of each child of the
	// supervision tree, whatever caused them.
	MetricSupervisorRestarts = "danube.connector.supervisor.restarts"
	// MetricSupervisorFailures counts the children that returned an error.
	MetricSupervisorFailures = "danube.connector.supervisor.failures"
	// MetricSupervisorPanics counts the children whose Run panicked.
	MetricSupervisorPanics = "danube.connector.supervisor.panics"
	// MetricSupervisorGiveUps counts the supervisors that exceeded their
	// restart intensity and gave up.
	MetricSupervisorGiveUps = "danube.connector.supervisor.give_ups"
	// MetricSupervisorEventsDropped counts the supervisor events that
	// hooks missed because the event queue was full: while it is above
	// zero, the other supervisor counters are lower than the truth.
	MetricSupervisorEventsDropped = "danube.connector.supervisor.events_dropped"
	// MetricClientConsumed counts the messages received from the broker
	// (semantic conventions: messaging.client.consumed.messages).
	MetricClientConsumed = "messaging.client.consumed.messages"
	// MetricClientSent counts the messages published to the broker, or
	// that failed to publish (messaging.client.sent.messages).
	MetricClientSent = "messaging.client.sent.messages"
	// MetricClientOperationDuration is the histogram of the seconds a
	// publish took (messaging.client.operation.duration).
	MetricClientOperationDuration = "messaging.client.operation.duration"
)

// The attribute keys of this package's own dimensions. The messaging ones
// come from the semantic conventions: messaging.system (always "danube"),
// messaging.destination.name (the topic), messaging.consumer.group.name
// (the subscription), messaging.operation.name and .type, and error.type.
const (
	// AttrConnector is the connector's name, given to New.
	AttrConnector = attribute.Key("danube.connector.name")
	// AttrStage is the name of a pipeline stage.
	AttrStage = attribute.Key("danube.stage.name")
	// AttrQueueFrom and AttrQueueTo are the stages that a channel joins:
	// the one sending on it and the one receiving from it.
	AttrQueueFrom = attribute.Key("danube.queue.from")
	AttrQueueTo   = attribute.Key("danube.queue.to")
	// AttrChildPath is the path of a child in the supervision tree, such
	// as "sink/write".
	AttrChildPath = attribute.Key("danube.supervisor.child.path")
)

// MessagingSystem is the value of messaging.system for Danube.
const MessagingSystem = "danube"

var systemAttr = semconv.MessagingSystemKey.String(MessagingSystem)

// The values of messaging.operation.name for settlements.
const (
	OperationAck        = "ack"
	OperationNack       = "nack"
	OperationDeadLetter = "dead_letter"
)
