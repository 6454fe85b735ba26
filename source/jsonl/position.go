package jsonl

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/danube-messaging/danube-connect-go/source"
)

// Position is a place in the input file: the byte offset of the next
// unread line, and how many lines come before it.
type Position struct {
	// Offset is the byte offset of the next unread line, from the start
	// of the file.
	Offset int64 `json:"offset"`
	// Lines counts the lines before Offset, so the next line is number
	// Lines+1.
	Lines uint64 `json:"lines"`
}

// positionSize is the length of an encoded Position: two 64-bit integers.
const positionSize = 16

// Checkpoint encodes p as the runtime's checkpoint, which
// DecodeCheckpoint reads back.
func (p Position) Checkpoint() source.Checkpoint {
	b := make([]byte, positionSize)
	binary.BigEndian.PutUint64(b, uint64(p.Offset))
	binary.BigEndian.PutUint64(b[8:], p.Lines)
	return b
}

// DecodeCheckpoint returns the Position that a checkpoint of this source
// holds: the zero Position for nil, an error for anything this source did
// not make.
func DecodeCheckpoint(cp source.Checkpoint) (Position, error) {
	if cp == nil {
		return Position{}, nil
	}
	if len(cp) != positionSize {
		return Position{}, fmt.Errorf("invalid checkpoint of %d bytes: a JSON-lines checkpoint has %d", len(cp), positionSize)
	}
	p := Position{Offset: int64(binary.BigEndian.Uint64(cp)), Lines: binary.BigEndian.Uint64(cp[8:])}
	if p.Offset < 0 {
		return Position{}, fmt.Errorf("invalid checkpoint: negative offset %d", p.Offset)
	}
	return p, nil
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
	if p.Offset < 0 {
		return Position{}, false, fmt.Errorf("invalid checkpoint file %s: negative offset %d; delete it to read the input from the start", path, p.Offset)
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
		return fmt.Errorf("checkpoint file %s: remove test file: %w", path, err)
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
