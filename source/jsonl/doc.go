// Package jsonl is a source connector that publishes the lines of a
// JSON-lines file to Danube, one message per line, and survives a kill at
// any moment without losing a line.
//
// The Source keeps its position, the byte offset of the next unread line
// and the number of lines before it, in a checkpoint file next to the
// input (input.jsonl.checkpoint). The source runtime commits a position
// only after the broker has acknowledged every line before it, and the
// file is replaced atomically: written to a temporary file, flushed to
// disk, renamed over the old one. A restart, after a crash or a SIGKILL,
// reads on from the committed position: the lines published after it come
// again, so consumers see every line at least once and may see some
// twice. With PositionAttributes each message carries the line's offset
// and number (AttrOffset, AttrLine), from which a consumer can recognise
// a line it has seen.
//
// The position also holds fingerprints of the file: of its first 4096
// bytes and of the line before the offset. A restart checks them, so a
// file that was replaced or rewritten since the commit stops the source
// with an error marked source.Fatal, where resuming would skip lines.
// Delete the checkpoint file to read the new file from its start. A
// checkpoint file written before positions had fingerprints is still
// read, without the check, and the next commit adds them.
//
// With Follow the source tails the file as it grows, as tail -f does, and
// publishes a line once its newline is written. A file that shrinks
// below what was read stops the source with an error marked
// source.Fatal, and so does another file at the path once the old one is
// read to its end: a file renamed over it, or created after it was
// removed. The command then exits with status 1 without restarting it.
//
// Use it with the source runtime:
//
//	conn, err := jsonl.New(jsonl.Options{File: "/var/data/events.jsonl", Follow: true})
//	rt, err := source.New(client, conn, source.Options{Topic: "/default/events"})
//	err = rt.Run(ctx)
//
// The command cmd/danube-source-jsonl runs it as a process configured from
// the environment (see Config), with SIGTERM handling and metrics.
package jsonl
