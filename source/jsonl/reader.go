package jsonl

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// initialBufferSize is the first size of the read buffer; it grows, up to
// the line limit, for longer lines.
const initialBufferSize = 64 << 10

// lineEndBytes is the size of the longest line end, a carriage return and
// a newline. The buffer has room for a line of the limit and its line end.
const lineEndBytes = 2

// lineReader reads complete lines from a file that may still be growing.
// It remembers where the next unread line starts, so that a line a writer
// has only half written is read once its newline arrives.
type lineReader struct {
	f       *os.File
	maxLine int

	buf   []byte // buf[start:] is read from the file and not yet consumed
	start int
	pos   Position // of buf[start]: the next unread line
	atEOF bool     // the last read found no more bytes

	// head is the fingerprint of the file's first min(pos.Offset,
	// headBytes) bytes, extended as lines are read until it is complete.
	head Fingerprint
}

// newLineReader returns a reader of f from at. head is the file's first
// min(at.Offset, headBytes) bytes.
func newLineReader(f *os.File, at Position, head []byte, maxLine int) *lineReader {
	r := &lineReader{f: f, maxLine: maxLine, buf: make([]byte, 0, min(initialBufferSize, maxLine+lineEndBytes)), pos: at}
	r.head = fingerprint(head)
	return r
}

// consume moves the position past raw, the next line with its line end,
// and sets the fingerprints of the new position.
func (r *lineReader) consume(raw []byte) {
	if r.head.Size < headBytes {
		r.head = r.head.extend(raw[:min(int64(len(raw)), headBytes-r.head.Size)])
	}
	r.pos.Offset += int64(len(raw))
	r.pos.Lines++
	r.pos.Head = r.head
	r.pos.Last = fingerprint(raw[max(0, len(raw)-lastBytes):])
}

// next returns the next complete line, without its newline or the
// carriage return before it, and the position after it. ok is false when
// no complete line is available now. The line is valid until the next
// call.
func (r *lineReader) next() (line []byte, after Position, ok bool, err error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:], '\n'); i >= 0 {
			line = bytes.TrimSuffix(r.buf[r.start:r.start+i], []byte{'\r'})
			if len(line) > r.maxLine {
				return nil, r.pos, false, r.tooLong()
			}
			r.consume(r.buf[r.start : r.start+i+1])
			r.start += i + 1
			return line, r.pos, true, nil
		}
		n, err := r.fill()
		if err != nil {
			return nil, r.pos, false, err
		}
		if n == 0 {
			return nil, r.pos, false, nil
		}
	}
}

// rest returns the bytes read after the last complete line, for the last
// line of a file that does not end with a newline, and consumes them. A
// carriage return at its end is dropped.
func (r *lineReader) rest() (line []byte, after Position, err error) {
	line = r.buf[r.start:]
	if len(line) == 0 {
		return nil, r.pos, nil
	}
	if stripped := bytes.TrimSuffix(line, []byte{'\r'}); len(stripped) > r.maxLine {
		return nil, r.pos, r.tooLong()
	}
	r.consume(line)
	r.start = len(r.buf)
	return bytes.TrimSuffix(line, []byte{'\r'}), r.pos, nil
}

// tooLong returns the error for the next line, which is longer than the
// limit.
func (r *lineReader) tooLong() error {
	return fmt.Errorf("line %d at offset %d is longer than the limit of %d bytes", r.pos.Lines+1, r.pos.Offset, r.maxLine)
}

// fill reads more of the file into the buffer and returns how many bytes
// it read; 0 means the end of the file for now.
func (r *lineReader) fill() (int, error) {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:])
		r.buf = r.buf[:n]
		r.start = 0
	}
	// The buffer has no newline. A line longer than the limit plus one
	// carriage return is too long, whatever bytes come next.
	if len(r.buf) > r.maxLine+1 {
		return 0, r.tooLong()
	}
	if len(r.buf) == cap(r.buf) {
		grown := make([]byte, len(r.buf), min(2*cap(r.buf), r.maxLine+lineEndBytes))
		copy(grown, r.buf)
		r.buf = grown
	}

	n, err := r.f.Read(r.buf[len(r.buf):cap(r.buf)])
	r.buf = r.buf[:len(r.buf)+n]
	r.atEOF = n == 0
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("read at offset %d: %w", r.pos.Offset+int64(len(r.buf)-n), err)
	}
	return n, nil
}

// readEnd returns the offset just past the last byte read from the file.
func (r *lineReader) readEnd() int64 {
	return r.pos.Offset + int64(len(r.buf)-r.start)
}
