package jsonl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/danube-messaging/danube-connect-go/source"
)

// Position is a place in the input file: the byte offset of the next
// unread line, how many lines come before it, and fingerprints of the
// file that tell it from another file at the same path.
//
// NOTE: the fingerprints cover the first 4096 bytes and the line before
// Offset only. A file rewritten with other bytes between them alone
// passes the check.
type Position struct {
	// Offset is the byte offset of the next unread line, from the start
	// of the file.
	Offset int64 `json:"offset"`
	// Lines counts the lines before Offset, so the next line is number
	// Lines+1.
	Lines uint64 `json:"lines"`
	// Head is the fingerprint of the file's first bytes: 4096 of them, or
	// all the bytes before Offset when there are fewer.
	Head Fingerprint `json:"head,omitzero"`
	// Last is the fingerprint of the bytes just before Offset: the end of
	// the line before it, at most 256 bytes.
	Last Fingerprint `json:"last,omitzero"`
}

// Maximum sizes of the byte ranges that the fingerprints of a Position
// cover.
const (
	headBytes = 4096
	lastBytes = 256
)

// Fingerprint identifies a range of bytes of the input file. A Fingerprint
// of size 0, as in checkpoints written before the source kept them, covers
// nothing and matches any file.
type Fingerprint struct {
	// Size is the number of bytes covered.
	Size int64 `json:"size"`
	// Sum is their CRC-32C (Castagnoli). It is computed for every line and
	// only needs to catch accidental differences, so a checksum that CPUs
	// compute in hardware serves, not a secure hash.
	Sum uint64 `json:"sum"`
}

// crcTable is the table of the CRC-32C of fingerprints.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// fingerprint returns the Fingerprint of b.
func fingerprint(b []byte) Fingerprint {
	return Fingerprint{}.extend(b)
}

// extend returns the Fingerprint of the bytes f covers followed by b.
func (f Fingerprint) extend(b []byte) Fingerprint {
	return Fingerprint{Size: f.Size + int64(len(b)), Sum: uint64(crc32.Update(uint32(f.Sum), crcTable, b))}
}

// Sizes of an encoded Position. A position without fingerprints, as
// written before the source kept them, has two 64-bit integers. The
// fingerprints add two more each.
const (
	positionSize       = 48
	legacyPositionSize = 16
)

// Checkpoint encodes p as the runtime's checkpoint, which
// DecodeCheckpoint reads back.
func (p Position) Checkpoint() source.Checkpoint {
	b := make([]byte, positionSize)
	binary.BigEndian.PutUint64(b, uint64(p.Offset))
	binary.BigEndian.PutUint64(b[8:], p.Lines)
	binary.BigEndian.PutUint64(b[16:], uint64(p.Head.Size))
	binary.BigEndian.PutUint64(b[24:], p.Head.Sum)
	binary.BigEndian.PutUint64(b[32:], uint64(p.Last.Size))
	binary.BigEndian.PutUint64(b[40:], p.Last.Sum)
	return b
}

// DecodeCheckpoint returns the Position that a checkpoint of this source
// holds: the zero Position for nil, an error for anything this source did
// not make. A checkpoint without fingerprints gives a Position without
// them.
func DecodeCheckpoint(cp source.Checkpoint) (Position, error) {
	if cp == nil {
		return Position{}, nil
	}
	if len(cp) != positionSize && len(cp) != legacyPositionSize {
		return Position{}, fmt.Errorf("invalid checkpoint of %d bytes: a JSON-lines checkpoint has %d", len(cp), positionSize)
	}
	p := Position{Offset: int64(binary.BigEndian.Uint64(cp)), Lines: binary.BigEndian.Uint64(cp[8:])}
	if len(cp) == positionSize {
		p.Head = Fingerprint{Size: int64(binary.BigEndian.Uint64(cp[16:])), Sum: binary.BigEndian.Uint64(cp[24:])}
		p.Last = Fingerprint{Size: int64(binary.BigEndian.Uint64(cp[32:])), Sum: binary.BigEndian.Uint64(cp[40:])}
	}
	if err := p.validate(); err != nil {
		return Position{}, fmt.Errorf("invalid checkpoint: %w", err)
	}
	return p, nil
}

// validate returns an error when p cannot be a position in a file.
func (p Position) validate() error {
	if p.Offset < 0 {
		return fmt.Errorf("negative offset %d", p.Offset)
	}
	if err := p.Head.validate("head", headBytes, p.Offset); err != nil {
		return err
	}
	return p.Last.validate("last", lastBytes, p.Offset)
}

// validate returns an error when f, the fingerprint called name, covers
// a negative size, more than limit bytes or more than the offset.
func (f Fingerprint) validate(name string, limit, offset int64) error {
	switch {
	case f.Size < 0:
		return fmt.Errorf("%s fingerprint of negative size %d", name, f.Size)
	case f.Size > limit:
		return fmt.Errorf("%s fingerprint of %d bytes, more than the %d it covers at most", name, f.Size, limit)
	case f.Size > offset:
		return fmt.Errorf("%s fingerprint of %d bytes covers more than the offset %d", name, f.Size, offset)
	}
	return nil
}

// ReadCheckpointFile returns the Position stored in the checkpoint file at
// path, and false when there is no such file.
func ReadCheckpointFile(path string) (Position, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("read checkpoint file: %w", err)
	}
	var p Position
	if err := json.Unmarshal(data, &p); err != nil {
		return Position{}, false, fmt.Errorf("invalid checkpoint file %s: %w; delete it to read the input from the start", path, err)
	}
	if err := p.validate(); err != nil {
		return Position{}, false, fmt.Errorf("invalid checkpoint file %s: %w; delete it to read the input from the start", path, err)
	}
	return p, true, nil
}

// checkWritable returns an error when the checkpoint file at path cannot
// be written: it is a directory, or no file can be created in its
// directory. It creates and removes a temporary file there, as a commit
// does.
func checkWritable(path string) error {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("invalid checkpoint file %s: it is a directory; set the checkpoint file to a file path", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return fmt.Errorf("checkpoint file %s cannot be written: creating a file in %s failed: %w; create the directory or make it writable, or set the checkpoint file to another path", path, dir, err)
	}
	name := tmp.Name()
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("checkpoint file %s cannot be written: %w", path, err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("checkpoint file %s: remove temporary file: %w", path, err)
	}
	return nil
}

// writeCheckpointFile replaces the checkpoint file at path with p, so that
// a crash at any moment leaves either the old file or the new one. It
// writes a temporary file in the same directory and flushes it to disk.
// Then it renames it over path, and flushes the directory, which makes
// the rename itself durable.
func writeCheckpointFile(path string, p Position) (err error) {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	data = append(data, '\n')

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("flush checkpoint file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace checkpoint file: %w", err)
	}
	return syncDir(dir)
}

// syncDir flushes the directory entry changes of dir to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("flush checkpoint directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("flush checkpoint directory: %w", err)
	}
	return nil
}
