// Package otel instruments connectors with OpenTelemetry metrics and
// traces, and gives their binaries a JSON logger and a throughput log
// line. With them an operator sees the throughput, failures, lag and
// restarts of a connector that runs for months, and follows one message
// from the producer that published it to the database write that stored
// it.
//
// The package uses the OpenTelemetry API only. It takes a MeterProvider
// and a TracerProvider and never installs an SDK; a program that gives it
// none pays nothing: the stage observer is then the zero stage.Observer,
// with which the stages make no call, and the span helpers return at once.
// The SDK and the Prometheus exporter live in the subpackage ops, which
// only binaries and tests import.
//
// # The pieces
//
// New makes the Instrumentation of one connector (its name, topic and
// subscription become attributes of every metric). Its adapters plug into
// the rest of the library:
//
//   - SupervisorHook, for supervisor.WithHook: restarts, failures, panics
//     and give-ups per child path.
//   - StageObserver, for stage.Options.Observer: messages received and sent
//     per stage, settlements by outcome, failed messages by error class,
//     retries, and the size and duration of each write. ObservePipeline
//     adds the gauges that are read on collection: pending (unacknowledged)
//     messages and bytes, and the depth of every channel.
//   - RecordReceive, RecordLag and RecordSend, for the runtimes: messages
//     consumed from and published to the broker, redeliveries, the age of
//     each batch's oldest message when written, publish durations.
//   - StartPublishSpan and InjectTrace, for a source: a producer span per
//     message, whose W3C traceparent and tracestate travel in the message's
//     attributes. StartBatchSpan, for a sink: a consumer span per batch
//     write, linked to the span of every message in the batch, under which
//     the database client's spans are children. EndSpan ends either.
//   - NewLogger builds a binary's slog.Logger from LOG_LEVEL, and a
//     ThroughputLogger logs written and failed messages and the rate at a
//     steady interval.
//
// Failures are labelled by class only (error.type = retryable,
// invalid_data or fatal, see ErrorClass), never by error text, so that no
// metric grows a series per message.
//
// # Metrics
//
// Names follow the OpenTelemetry messaging semantic conventions where they
// define one, and carry the danube.connector prefix otherwise. Every
// metric has messaging.system="danube" and danube.connector.name, and
// messaging.destination.name (topic) and messaging.consumer.group.name
// (subscription) when given to New. Through the Prometheus exporter of ops,
// dots become underscores, counters end in _total and units are appended:
//
//	OpenTelemetry name                    Prometheus name                                  attributes
//	danube.connector.stage.received       danube_connector_stage_received_total           danube.stage.name
//	danube.connector.stage.sent           danube_connector_stage_sent_total               danube.stage.name
//	danube.connector.messages.settled     danube_connector_messages_settled_total         stage, messaging.operation.name=ack|nack|dead_letter
//	danube.connector.messages.failed      danube_connector_messages_failed_total          stage, error.type
//	danube.connector.messages.retried     danube_connector_messages_retried_total         stage
//	danube.connector.messages.redelivered danube_connector_messages_redelivered_total     -
//	danube.connector.messages.duplicates  danube_connector_messages_duplicates_total      -
//	danube.connector.messages.pending     danube_connector_messages_pending               - (gauge)
//	danube.connector.pending.size         danube_connector_pending_size_bytes             - (gauge)
//	danube.connector.queue.depth          danube_connector_queue_depth                    danube.queue.from, danube.queue.to (gauge)
//	danube.connector.queue.capacity       danube_connector_queue_capacity                 danube.queue.from, danube.queue.to (gauge)
//	danube.connector.batch.size           danube_connector_batch_size_{bucket,sum,count}  stage
//	danube.connector.write.duration       danube_connector_write_duration_seconds_*       stage, error.type when failed
//	danube.connector.lag                  danube_connector_lag_seconds_*                  -
//	danube.connector.supervisor.restarts  danube_connector_supervisor_restarts_total      danube.supervisor.child.path
//	danube.connector.supervisor.failures  danube_connector_supervisor_failures_total      child path
//	danube.connector.supervisor.panics    danube_connector_supervisor_panics_total        child path
//	danube.connector.supervisor.give_ups  danube_connector_supervisor_give_ups_total      child path (the supervisor's)
//	danube.connector.supervisor.events_dropped  ..._supervisor_events_dropped_total       child path (the supervisor's)
//	messaging.client.consumed.messages    messaging_client_consumed_messages_total        messaging.operation.name=receive
//	messaging.client.sent.messages        messaging_client_sent_messages_total            messaging.operation.name=send, error.type when failed
//	messaging.client.operation.duration   messaging_client_operation_duration_seconds_*   as sent
//
// In a label, the dots of an attribute name become underscores too:
// danube_stage_name, messaging_operation_name, error_type. Dead-lettered
// messages, for instance, are
// danube_connector_messages_settled_total{messaging_operation_name="dead_letter"}.
// The names are also constants of this package (MetricMessagesFailed and
// the others).
//
// # Wiring a sink
//
// The sink runtime holds an *Instrumentation (nil is allowed and records
// nothing) and, around its stage pipeline:
//
//	p := stage.New("sink", stage.Options{
//		Observer:   inst.StageObserver(),
//		Supervisor: []supervisor.Option{supervisor.WithHook(inst.SupervisorHook())},
//	})
//	reg, err := inst.ObservePipeline(p) // Unregister when the pipeline is gone
//
//	// in its Source, per chunk received from the consumer:
//	inst.RecordReceive(ctx, n, redelivered)
//
//	// in its Writer, per batch:
//	ctx, span := inst.StartBatchSpan(ctx, topic, len(batch), func(i int) map[string]string {
//		return batch[i].Value.Attributes
//	})
//	err := connector.Write(ctx, records)
//	inst.EndSpan(span, err)
//	inst.RecordLag(ctx, time.Since(oldestPublishTime))
//
// so that failures carry the sink's classes, it gives New a Classify that
// maps sink.ClassOf to ErrorClass (ErrFatal to ClassFatal, ErrInvalidData
// to ClassInvalidData, the rest to ClassRetryable).
//
// A binary adds the providers, the logger and the ops server:
//
//	log, err := otel.NewLogger(os.Getenv("LOG_LEVEL"), os.Stderr)
//	mp, metrics, err := ops.NewPrometheus()
//	inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "mongodb", Topic: topic, Subscription: sub})
//	addr, err := ops.ListenAddr(os.Getenv("METRICS_PORT"))
//	srv := ops.NewServer(addr, metrics, live, ready)
//
// An end-to-end test of the binary starts it with METRICS_PORT set to a
// free port, sends messages, and reads GET http://127.0.0.1:PORT/metrics
// until a line such as
//
//	danube_connector_messages_settled_total{danube_connector_name="mongodb",...,messaging_operation_name="ack",...} 100
//
// shows the count it expects; /readyz answers 200 once the connector can
// write. The example of this package does the same in process.
package otel
