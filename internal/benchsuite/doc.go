// Command benchsuite measures the library's figures next to the ceilings
// of the machine they run on, in one process run, and writes them as
// markdown tables. Each figure comes with what it is compared with, the
// ratio, the target and whether it was met. The report also gives the
// machine, the date, the load average and the exact command.
//
// Run it from the repository's root:
//
//	go run ./internal/benchsuite -out BENCHMARKS.md   # full run, a few minutes
//	go run ./internal/benchsuite -quick               # smoke test, figures meaningless
//
// With -out the report replaces the text between the file's
// <!-- benchsuite:begin --> and <!-- benchsuite:end --> lines and keeps
// the rest; without it the report goes to standard output. Progress goes
// to standard error. The exit status is 1 when a section failed; the
// report then says which and why, and keeps the figures measured before.
//
// # What it measures
//
// The sections run in this order, each on a collected heap:
//
//   - ceilings: raw gRPC unary calls with 1, 16 and 64 callers, one raw
//     server stream, and five goroutines chained by channels, per message
//     and in batches of 1000 (package internal/baseline);
//   - stage: a five-stage pipeline against a hand-written chain of the same
//     shape, in messages per second, time and allocations per message, and
//     with the otel stage observer on no-op instruments;
//   - supervisor: starting and stopping 10,000 children;
//   - broker: the in-process broker alone, driven with the protocol's
//     generated messages and no client logic;
//   - client: pipelined publishing, and consuming with acknowledgements at
//     windows 10, 100 and 1000, as ratios to the unary ceiling;
//   - mongodb: the MongoDB sink consuming through the broker against
//     InsertMany of the same documents into the same server, whose
//     InsertMany rate joins the ceilings;
//   - memory: the heap of a sink process whose writer is stalled while
//     backlogs of growing size wait at the broker.
//
// The MongoDB server is the one named by -mongodb-uri or MONGODB_URI, or
// else the embedded FerretDB server that the tests use, started as a
// child process. The sample documents come from the data directory of
// package internal/testdata (DANUBE_CONNECT_DATA). For the memory section
// the program starts its own executable again as the stalled sink: the
// environment variable DANUBE_BENCHSUITE_STALLED_SINK selects that role.
//
// Every figure of one run is measured on the same machine within minutes,
// so ratios between them hold where absolute figures, on a shared or
// noisy machine, do not.
package main
