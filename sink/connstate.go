package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errNotOpen is the reason for nacking records when the connector is
// closed or was never opened.
var errNotOpen = errors.New("the connector is not open")

type connStatus uint8

const (
	statusIdle    connStatus = iota // not opened yet in this run
	statusOpening                   // Open is running
	statusOpen                      // writes may go to the connector
	statusFailed                    // a Write failed with ErrFatal; closing
	statusClosed                    // Open failed, or Close was called
)

// connState shares the connector's state between the child that opens and
// closes it and the routes that write to it. It also serializes writes
// unless the connector allows concurrent ones, and keeps Close from
// running while a Write does.
type connState struct {
	conn       Connector
	concurrent bool

	writes sync.RWMutex // held for reading (or writing, when not concurrent) by each Write, for writing by Close

	mu      sync.Mutex
	status  connStatus
	err     error         // the fatal error, in statusFailed
	openErr error         // the connector's error from the last Open of this run, nil once an Open succeeded
	changed chan struct{} // closed and replaced on every change
	fatal   chan error    // the first fatal error of the current opening
}

func newConnState(conn Connector) *connState {
	cw, ok := conn.(ConcurrentWriter)
	return &connState{
		conn:       conn,
		concurrent: ok && cw.ConcurrentWrites(),
		changed:    make(chan struct{}),
		fatal:      make(chan error, 1),
	}
}

// reset returns the state to idle before a run.
func (s *connState) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(statusIdle, nil)
	s.openErr = nil
}

func (s *connState) setLocked(st connStatus, err error) {
	s.status, s.err = st, err
	close(s.changed)
	s.changed = make(chan struct{})
}

// open calls Open on the connector and records the outcome.
func (s *connState) open(ctx context.Context) error {
	s.mu.Lock()
	s.setLocked(statusOpening, nil)
	s.fatal = make(chan error, 1)
	s.mu.Unlock()

	err := s.conn.Open(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.openErr = err
	if err != nil {
		s.setLocked(statusClosed, nil)
		return fmt.Errorf("open connector: %w", err)
	}
	s.setLocked(statusOpen, nil)
	return nil
}

// failures returns the channel that receives the first fatal error of the
// current opening.
func (s *connState) failures() <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// fail records that a Write failed with a fatal error: later writes are
// nacked without reaching the connector, and the connector's child
// learns of it and stops. Only the first failure counts.
func (s *connState) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != statusOpen {
		return
	}
	s.setLocked(statusFailed, err)
	s.fatal <- err // buffered, and sent once per opening
}

// close waits for the writes in progress to return, then closes the
// connector, within ctx.
func (s *connState) close(ctx context.Context) error {
	s.mu.Lock()
	if s.status == statusOpen {
		s.setLocked(statusClosed, nil)
	}
	s.mu.Unlock()

	s.writes.Lock()
	defer s.writes.Unlock()
	err := s.conn.Close(ctx)

	s.mu.Lock()
	s.setLocked(statusClosed, nil)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("close connector: %w", err)
	}
	return nil
}

// current returns the connector's status.
func (s *connState) current() connStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// waitOpen waits until the connector has been opened, or has failed or
// closed, and returns nil then, or ctx's error.
func (s *connState) waitOpen(ctx context.Context) error {
	for {
		s.mu.Lock()
		st, changed := s.status, s.changed
		s.mu.Unlock()
		if st != statusIdle && st != statusOpening {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// beginWrite takes the right to call Write, or returns the reason the
// connector cannot be written to now. After a nil error the caller gives
// the right back with endWrite.
func (s *connState) beginWrite() error {
	if s.concurrent {
		s.writes.RLock()
	} else {
		s.writes.Lock()
	}
	if err := s.usable(); err != nil {
		s.endWrite()
		return err
	}
	return nil
}

// endWrite gives back the right taken by beginWrite.
func (s *connState) endWrite() {
	if s.concurrent {
		s.writes.RUnlock()
	} else {
		s.writes.Unlock()
	}
}

// unready returns nil when the connector is open, and otherwise why not
// for a readiness probe: usable's reason, with whether an Open is in
// progress and the error of the last Open that failed.
func (s *connState) unready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.status == statusOpen:
		return nil
	case s.status == statusFailed:
		return fmt.Errorf("the connector failed: %w", s.err)
	case s.status == statusOpening && s.openErr != nil:
		return fmt.Errorf("%w: opening it again after the last Open failed: %w", errNotOpen, s.openErr)
	case s.status == statusOpening:
		return fmt.Errorf("%w: Open is in progress", errNotOpen)
	case s.openErr != nil:
		return fmt.Errorf("%w: the last Open failed: %w", errNotOpen, s.openErr)
	}
	return errNotOpen
}

// usable returns nil when the connector is open, and otherwise why not.
func (s *connState) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.status {
	case statusOpen:
		return nil
	case statusFailed:
		return fmt.Errorf("the connector failed: %w", s.err)
	}
	return errNotOpen
}
