package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"github.com/danube-messaging/danube-connect-go/source"
)

// Defaults of Options, used for each field left at zero.
const (
	DefaultMaxLineBytes      = 1 << 20
	DefaultMaxRecordsPerPoll = 1000
	// CheckpointSuffix is appended to File to name the checkpoint file
	// when Options.CheckpointFile is empty.
	CheckpointSuffix = ".checkpoint"
)

// The attributes that Options.PositionAttributes adds to each record, so
// that a consumer can recognise a line published twice. Their names contain
// no '.', because a sink that stores attributes as document fields, such
// as the MongoDB sink, would otherwise write keys that MongoDB-compatible
// servers like FerretDB reject.
const (
	AttrOffset = "jsonl-offset" // byte offset of the line's first byte
	AttrLine   = "jsonl-line"   // line number, from 1
)

// Options configures a Source.
type Options struct {
	// File is the JSON-lines file to read. Required.
	File string
	// CheckpointFile is the file the position is committed to,
	// File+CheckpointSuffix by default. Its directory must exist and be
	// writable, or Open fails.
	CheckpointFile string
	// Follow keeps reading as the file grows, as tail -f does: at the end
	// of the file Poll returns no records, and a last line without its
	// newline waits for it. Without Follow the end of the file ends the
	// input, and a last line without a newline is a record.
	Follow bool
	// MaxLineBytes bounds a line, not counting its newline and a carriage
	// return before it. A longer line stops the source with an error that
	// names its offset. DefaultMaxLineBytes by default.
	MaxLineBytes int
	// MaxRecordsPerPoll bounds the records of one Poll,
	// DefaultMaxRecordsPerPoll by default.
	MaxRecordsPerPoll int
	// KeyField names a top-level field of each line's JSON object whose
	// value becomes the record's routing key: a string as it is, another
	// value as its JSON text. "" sets no key. A line that is not a JSON
	// object, or lacks the field, gets no key.
	KeyField string
	// PositionAttributes adds AttrOffset and AttrLine to each record.
	PositionAttributes bool
}

// Source is a source connector, in poll mode, that publishes each line of
// a JSON-lines file as one record and keeps its position in a checkpoint
// file. Lines are published as they are, without their newline (and a
// carriage return before it); blank lines are skipped. The source does
// not parse lines unless Options.KeyField is set.
//
// A record's position is the offset of the line after it, so a restart
// reads again from the first line that was not acknowledged with every
// line before it: lines after it that were published come again, and no
// line is lost. The checkpoint file is replaced atomically on every
// commit, so a kill at any moment leaves a valid one.
//
// Open fails with an error marked Fatal when the file no longer matches
// the committed position, because it was truncated, replaced or
// rewritten: it is shorter than the offset, or its first bytes or the
// line before the offset differ from those read. While following, a file
// that shrinks below what was read, or another file at the path, stops
// the source the same way. danube-source-jsonl then exits with status 1
// without restarting the source. Delete the checkpoint file to read the
// new file from its start.
type Source struct {
	opts Options

	// Used by Open, Poll and Close, which the runtime never runs at once.
	f *os.File
	r *lineReader

	// healthMu guards open, which Health reads concurrently.
	healthMu sync.Mutex
	open     bool
}

var (
	_ source.Poller  = (*Source)(nil)
	_ source.Resumer = (*Source)(nil)
)

// New returns a Source for opts. It fails when File is empty or a limit
// is negative; it opens nothing.
func New(opts Options) (*Source, error) {
	var errs []error
	if opts.File == "" {
		errs = append(errs, errors.New("missing File: name the JSON-lines file to read"))
	}
	if opts.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxLineBytes %d is negative", opts.MaxLineBytes))
	}
	if opts.MaxRecordsPerPoll < 0 {
		errs = append(errs, fmt.Errorf("MaxRecordsPerPoll %d is negative", opts.MaxRecordsPerPoll))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("jsonl: %w", errors.Join(errs...))
	}
	if opts.CheckpointFile == "" {
		opts.CheckpointFile = opts.File + CheckpointSuffix
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxRecordsPerPoll == 0 {
		opts.MaxRecordsPerPoll = DefaultMaxRecordsPerPoll
	}
	return &Source{opts: opts}, nil
}

// LastCheckpoint returns the position in the checkpoint file, or nil when
// there is none yet.
func (s *Source) LastCheckpoint(context.Context) (source.Checkpoint, error) {
	p, ok, err := ReadCheckpointFile(s.opts.CheckpointFile)
	if err != nil {
		return nil, source.Fatal(fmt.Errorf("jsonl: %w", err))
	}
	if !ok {
		return nil, nil
	}
	return p.Checkpoint(), nil
}

// Open opens the file and moves to checkpoint, the start of the file when
// it is nil. It fails with a Fatal error, before anything is read, when
// the checkpoint file cannot be written.
func (s *Source) Open(_ context.Context, checkpoint source.Checkpoint) error {
	at, err := DecodeCheckpoint(checkpoint)
	if err != nil {
		return source.Fatal(fmt.Errorf("jsonl: %w", err))
	}
	s.closeFile()
	if err := checkWritable(s.opts.CheckpointFile); err != nil {
		return source.Fatal(fmt.Errorf("jsonl: %w", err))
	}

	f, err := os.Open(s.opts.File)
	if err != nil {
		return fmt.Errorf("jsonl: open input: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("jsonl: open input: %w", err)
	}
	if info.Size() < at.Offset {
		f.Close()
		return source.Fatal(fmt.Errorf("jsonl: %s has %d bytes, fewer than the committed offset %d: it was truncated or replaced; delete %s to read it from the start",
			s.opts.File, info.Size(), at.Offset, s.opts.CheckpointFile))
	}
	head, err := s.checkFingerprints(f, at)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(at.Offset, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("jsonl: seek to offset %d: %w", at.Offset, err)
	}

	s.f = f
	s.r = newLineReader(f, at, head, s.opts.MaxLineBytes)
	s.setOpen(true)
	return nil
}

// checkFingerprints returns a Fatal error when the fingerprints of at do
// not match f, which then is not the file that at was taken in. Otherwise
// it returns the file's first min(at.Offset, headBytes) bytes.
func (s *Source) checkFingerprints(f *os.File, at Position) ([]byte, error) {
	headLen := min(at.Offset, headBytes)
	head := make([]byte, max(headLen, at.Head.Size))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("jsonl: read the start of %s: %w", s.opts.File, err)
	}
	if at.Head.Size > 0 && fingerprint(head[:at.Head.Size]) != at.Head {
		return nil, s.replaced(at, fmt.Sprintf("its first %d bytes", at.Head.Size))
	}
	if at.Last.Size > 0 {
		last := make([]byte, at.Last.Size)
		if _, err := f.ReadAt(last, at.Offset-at.Last.Size); err != nil {
			return nil, fmt.Errorf("jsonl: read %s before offset %d: %w", s.opts.File, at.Offset, err)
		}
		if fingerprint(last) != at.Last {
			return nil, s.replaced(at, fmt.Sprintf("the %d bytes before offset %d", at.Last.Size, at.Offset))
		}
	}
	return head[:headLen], nil
}

// replaced returns the Fatal error for a file whose bytes, described by
// differing, differ from those read before the checkpoint at.
func (s *Source) replaced(at Position, differing string) error {
	return source.Fatal(fmt.Errorf("jsonl: %s is not the file that the checkpoint in %s was taken from: %s differ from those read then, so it was replaced or rewritten, and resuming at offset %d would skip or split lines. Delete %s to read the file from its start",
		s.opts.File, s.opts.CheckpointFile, differing, at.Offset, s.opts.CheckpointFile))
}

// Poll returns the complete lines available now, at most
// MaxRecordsPerPoll of them, and io.EOF at the end of a file that is not
// followed.
func (s *Source) Poll(context.Context) ([]source.Record, error) {
	if s.r == nil {
		return nil, errors.New("jsonl: Poll before Open")
	}
	var recs []source.Record
	for len(recs) < s.opts.MaxRecordsPerPoll {
		lineStart := s.r.pos
		line, after, ok, err := s.r.next()
		if err != nil {
			return recs, source.Fatal(fmt.Errorf("jsonl: %s: %w", s.opts.File, err))
		}
		if !ok {
			break
		}
		recs = s.appendRecord(recs, line, lineStart, after)
	}
	if len(recs) > 0 || !s.r.atEOF {
		return recs, nil
	}

	if !s.opts.Follow {
		lineStart := s.r.pos
		line, after, err := s.r.rest()
		if err != nil {
			return recs, source.Fatal(fmt.Errorf("jsonl: %s: %w", s.opts.File, err))
		}
		if line != nil {
			recs = s.appendRecord(recs, line, lineStart, after)
		}
		return recs, io.EOF
	}
	return nil, s.checkInput()
}

// appendRecord appends the record of line, which starts at start and is
// followed by after, unless the line is blank.
func (s *Source) appendRecord(recs []source.Record, line []byte, start, after Position) []source.Record {
	if len(bytes.TrimSpace(line)) == 0 {
		return recs
	}
	rec := source.Record{Payload: bytes.Clone(line), Position: after.Checkpoint()}
	if s.opts.KeyField != "" {
		rec.Key = keyOf(rec.Payload, s.opts.KeyField)
	}
	if s.opts.PositionAttributes {
		rec.Attributes = map[string]string{
			AttrOffset: strconv.FormatInt(start.Offset, 10),
			AttrLine:   strconv.FormatUint(start.Lines+1, 10),
		}
	}
	return append(recs, rec)
}

// keyOf returns the value of the top-level field of the JSON object line,
// or "" when line is not an object or has no such field.
func keyOf(line []byte, field string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return ""
	}
	raw, ok := obj[field]
	if !ok {
		return ""
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return string(raw)
}

// checkInput returns a Fatal error when the file is now shorter than what
// was read from it, or when another file has replaced it at its path. A
// path with no file is not an error: the file may be in the middle of a
// rotation, and Health reports it.
func (s *Source) checkInput() error {
	info, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("jsonl: stat input: %w", err)
	}
	if end := s.r.readEnd(); info.Size() < end {
		return source.Fatal(fmt.Errorf("jsonl: %s shrank to %d bytes after %d were read: it was truncated or replaced; delete %s to read it from the start",
			s.opts.File, info.Size(), end, s.opts.CheckpointFile))
	}
	now, err := os.Stat(s.opts.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("jsonl: stat input: %w", err)
	}
	if !os.SameFile(info, now) {
		return source.Fatal(fmt.Errorf("jsonl: %s was replaced by another file after %d bytes of the old one were read; delete %s to read the new file from the start",
			s.opts.File, s.r.readEnd(), s.opts.CheckpointFile))
	}
	return nil
}

// Commit replaces the checkpoint file with the position in checkpoint.
func (s *Source) Commit(_ context.Context, checkpoint source.Checkpoint) error {
	p, err := DecodeCheckpoint(checkpoint)
	if err != nil {
		return source.Fatal(fmt.Errorf("jsonl: %w", err))
	}
	if err := writeCheckpointFile(s.opts.CheckpointFile, p); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

// Close closes the file.
func (s *Source) Close(context.Context) error {
	s.closeFile()
	return nil
}

func (s *Source) closeFile() {
	s.setOpen(false)
	if s.f != nil {
		_ = s.f.Close()
		s.f, s.r = nil, nil
	}
}

func (s *Source) setOpen(open bool) {
	s.healthMu.Lock()
	s.open = open
	s.healthMu.Unlock()
}

// Health returns an error while the file is not open, or when it is gone
// from its path.
func (s *Source) Health(context.Context) error {
	s.healthMu.Lock()
	open := s.open
	s.healthMu.Unlock()
	if !open {
		return errors.New("jsonl: input not open")
	}
	if _, err := os.Stat(s.opts.File); err != nil {
		return fmt.Errorf("jsonl: input: %w", err)
	}
	return nil
}
