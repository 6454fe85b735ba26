package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// commitLoop commits the checkpoint at the checkpoint interval and when
// the ledger signals that enough records were acknowledged, until stop is
// closed or ctx is done. Cancelling ctx also cuts short a commit in
// progress.
func (rn *run) commitLoop(ctx context.Context, stop <-chan struct{}) {
	ticker := rn.opts.Clock.NewTicker(rn.opts.CheckpointInterval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-rn.ledger.due:
		}
		if stops, err := rn.commit(ctx); stops {
			rn.failLate(err)
		}
	}
}

// commit calls the connector's Commit with the committable checkpoint if
// it moved since the last successful commit. A failure is logged and left
// for the next commit to repair, unless it is marked Fatal or is a panic:
// then stop is true, and the caller stops the run or reports the failure.
// Only one goroutine at a time may call commit.
func (rn *run) commit(ctx context.Context) (stop bool, err error) {
	cp, version := rn.ledger.committable()
	if version == rn.committedVersion {
		return false, nil
	}

	cctx, cancel := withTimeout(ctx, rn.opts.Clock, rn.opts.CommitTimeout)
	panicked, err := rn.callCommit(cctx, cp)
	cancel()
	if err != nil {
		rn.rt.commitFailures.Add(1)
		rn.commitFailures++
		err = fmt.Errorf("commit checkpoint: %w", err)
		if panicked || errors.Is(err, ErrFatal) {
			return true, err
		}
		if rn.commitFailures == 1 {
			rn.log.Warn("commit failed; the next commit retries it", slog.Any("error", err))
		}
		return false, err
	}

	if rn.commitFailures > 0 {
		rn.log.Info("commit recovered", slog.Int("failures", rn.commitFailures))
		rn.commitFailures = 0
	}
	rn.committedVersion = version
	rn.rt.setCommitted(cp)
	return false, nil
}

// callCommit calls the connector's Commit and turns a panic into an
// error, since no caller could recover a panic on the commit loop's
// goroutine.
func (rn *run) callCommit(ctx context.Context, cp Checkpoint) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, rn.panicError("Commit", r)
		}
	}()
	return false, rn.rt.conn.Commit(ctx, cp)
}
