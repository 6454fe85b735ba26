// Package soak holds the fault-injection soak test of the MongoDB sink. It
// pushes a dataset through the whole path while faults hit every part of
// it, and then proves, message by message, that nothing was lost and
// nothing was written twice.
//
// # What runs
//
// The test process runs an in-process broker (package danubetest), the
// source runtime with a generator connector that publishes the dataset
// to a topic of two partitions, and an embedded MongoDB server (package
// mongotest) that it can stop and restart on the same data and port. The
// sink runs as a separate process, the program in sinkproc: the sink
// runtime with the MongoDB connector, deterministic ids on
// ("<topic>:<partition>:<offset>:<publish time>", replacing a payload's own _id),
// NON_JSON=reject and MONGODB_COLLECTION_FIELD, wrapped in a connector
// that fails writes and panics on demand. The test starts that process, signals it, kills it and starts it
// again.
//
// The dataset is every document of the sample files (../shared/data/*.ejson,
// through package testdata), generated documents to reach the count, and
// 1% poison: text, broken JSON, a JSON array, a JSON string, random bytes,
// and a few JSON objects of about 3 MB that become over 16 MiB of BSON.
// Each record carries its sequence number as the attribute soak_seq, so
// that every broker message, document and dead letter traces back to it.
// The sample documents go to one collection, and the generated ones name
// one of 32 others in a field, a run of consecutive records each. That
// keeps every collection small, because the embedded server scans a whole
// collection to find documents by _id, which the sink does after every
// duplicate insert.
//
// # Faults
//
// From a seed, the test draws the dataset's order and poison and a
// schedule of faults, every kind at least once:
//
//   - a stage panic: the sink's Write writes half of its batch and panics
//     (SIGUSR1 to the sink process);
//   - transient write failures: 10% of the Write calls fail as retryable,
//     half before the batch is written and half after, as when the reply
//     is lost (decided in the sink process, all along);
//   - every receive stream of the broker dropped with UNAVAILABLE;
//   - a partition unloaded with the broker's UnloadTopic, which on a
//     single broker is what gives the clients a CLOSE (the admin call
//     UnloadTopic needs a second broker to move the topic to);
//   - the MongoDB server stopped and restarted on the same data;
//   - SIGTERM to the sink process while it holds unacknowledged messages,
//     which must drain and exit 0, then a new process;
//   - SIGKILL to the sink process in the same state, then a new process;
//   - the poison records, which must end in the dead-letter topic.
//
// The subscription's failure policy sends poison through the sink's own
// dead-letter path and redelivers everything else for as long as it
// takes (1000 redeliveries, delays of 100 ms to 2 s); its poison policy
// DeadLetter is only a backstop whose dead letters the check reports. Its
// ack timeout of a minute stays well above the time the sink takes to
// write a full window, so that the broker does not redeliver what the
// sink still holds. The reasons are on the failurePolicy variable of the
// test.
//
// The seed, printed at the start and in the report, replays the dataset
// and the schedule. The moments at which a fault lands, and so the exact
// interleaving, depend on real time and the machine's load.
//
// # What it checks
//
// When the schedule is done and the source has published everything, the
// test waits, within a deadline, until the sink has acknowledged every
// message, stops it with SIGTERM, and compares the broker's messages, the
// dead-letter topic and the collection. It fails on any message lost
// (a valid record with no document, poison with no dead letter), any
// duplicated document (a record stored under two ids, a document with no
// source message), a valid record dead-lettered, poison stored, a
// document whose fields differ from its record, a sink process that exits
// on its own or does not exit 0 after SIGTERM, and any goroutine left in
// the test process (goleak). It prints a table: messages published and
// stored, documents, dead letters by reason, lost, duplicated, goroutines
// left, the peak heap of the sink process (from its /metrics) and of the
// test process, the faults injected, and the sink's Writes and MongoDB
// commands that took a second or more. Every wait has a deadline, so a
// sink that never catches up fails the test with the state of the
// subscription instead of hanging.
//
// # Running it
//
// The short form, 6,000 messages and 12 faults, runs with the package's
// tests, in CI too:
//
//	go test -race ./internal/soak
//
// The long form publishes 100,000 messages through 48 faults:
//
//	go test ./internal/soak -run TestSoakLosesNothing -v -timeout 40m -soak.long -soak.seed=N
//
// Flags, or the environment variables in brackets when the flag is not
// given: -soak.seed (SOAK_SEED) replays a run, -soak.long (SOAK_LONG=1)
// selects the long form, -soak.messages (SOAK_MESSAGES) changes the
// count, -soak.race-sink (SOAK_RACE_SINK=1) builds the sink process with
// the race detector, and -soak.report (SOAK_REPORT) writes the table to a
// file. The table is in the test's log: run with -v to see it on success.
// MONGODB_URI must not be set, because the test stops and restarts its
// own server.
package soak
