// Package connect moves data between the Danube messaging broker and other
// systems, reliably, inside an ordinary Go program. This package holds no
// code: it documents the module, and its examples show each way to use it.
//
// A connector is a pipeline of stages. A sink pipeline consumes messages
// from Danube topics, decodes them, gathers them into batches and writes
// the batches to the target system. It then settles each message with the
// broker: ack when it was written, nack when it should come again,
// dead-letter when it can never be written. A source pipeline runs the
// other way and commits its position only after the broker has
// acknowledged every record up to it. Package stage provides the typed
// stages and the bounded channels that join them. A stage's input channel
// fills up when the stage falls behind, so memory stays bounded whatever
// the speed of the target.
//
// Every stage runs as a child of a supervisor (package supervisor), in the
// manner of Erlang/OTP. A failed stage is restarted with backoff, and a
// writer that fails restarts together with the stages after it but not the
// consumer before it. Too many restarts in a short period stop the
// pipeline and report the failure to the parent supervisor. Shutdown drains
// the pipeline from its input to its output within a deadline, so that no
// message is acked unwritten and none is left unsettled.
//
// Packages sink and source are the two runtimes: a connector implements a
// few methods (open, write a batch, close, health) and the runtime turns them
// into a supervised pipeline with retries, dead letters, configuration from
// the environment or a YAML file, and graceful handling of SIGTERM. Package
// danube is the client for Danube's gRPC protocol, and danube/danubetest an
// in-process broker for tests. Package mongodb is a ready-made sink that
// writes messages to MongoDB collections, and cmd/danube-sink-mongodb runs
// it as a program. Package otel reports metrics and traces through
// OpenTelemetry.
//
// # Where to start
//
// The examples of this package run, under go test, against an in-process
// broker and an embedded MongoDB server:
//
//   - Example_mongoDBSinkInService runs the MongoDB sink as one child of an
//     existing service's supervision tree.
//   - Example_customStage adds stages of your own to a sink with
//     sink.Options.Transform.
//   - Example_customSinkConnector writes a sink connector for another
//     system.
//   - Example_customPipeline builds a pipeline by hand from a Danube
//     consumer with sink.NewSource.
//   - Example_sourceConnector writes a source connector that resumes from
//     its checkpoint.
//   - Example_prepareBroker creates the namespace, the topics and the
//     subscription policies that a deployment needs before its first
//     start.
//
// The repository's README and its docs directory cover the program, its
// configuration, how to run it with Danube, and the delivery guarantees.
package connect
