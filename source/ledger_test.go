package source

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

func cp(n uint64) Checkpoint { return binary.BigEndian.AppendUint64(nil, n) }

func uncp(c Checkpoint) uint64 {
	if c == nil {
		return 0
	}
	return binary.BigEndian.Uint64(c)
}

func TestLedgerCommitsContiguousPrefixOnly(t *testing.T) {
	l := newLedger(nil, 0, nil)
	for i := range 5 {
		if seq := l.add(cp(uint64(i + 1))); seq != uint64(i) {
			t.Fatalf("add %d returned sequence %d", i, seq)
		}
	}

	steps := []struct {
		ack  uint64
		want uint64 // committable record count after the ack
	}{
		{ack: 2, want: 0}, // out of order: 0 and 1 still pending
		{ack: 1, want: 0},
		{ack: 0, want: 3}, // closes the gap: 0, 1, 2 in a row
		{ack: 4, want: 3},
		{ack: 3, want: 5},
	}
	for _, s := range steps {
		l.ack(s.ack)
		got, _ := l.committable()
		if uncp(got) != s.want {
			t.Errorf("after ack %d: committable %d, want %d", s.ack, uncp(got), s.want)
		}
	}
}

func TestLedgerFailureHoldsCheckpointBack(t *testing.T) {
	var failedSeq []uint64
	l := newLedger(cp(10), 0, func(seq uint64, err error) { failedSeq = append(failedSeq, seq) })
	for i := range 4 {
		l.add(cp(uint64(11 + i)))
	}
	l.ack(0)
	l.fail(1, errors.New("send failed"))
	l.ack(2)
	l.ack(3)
	l.ack(1) // an outcome after the failure is ignored

	got, _ := l.committable()
	if uncp(got) != 11 {
		t.Errorf("committable %d, want 11: the failed record holds it back", uncp(got))
	}
	if len(failedSeq) != 1 || failedSeq[0] != 1 {
		t.Errorf("onFail called for %v, want [1]", failedSeq)
	}
	if c := l.counts(); c.failed != 1 || c.prefix != 1 || c.inFlight != 3 {
		t.Errorf("counts = %+v, want 1 failed, 1 in the prefix, 3 after it", c)
	}
}

func TestLedgerRecordWithoutPositionHoldsCheckpoint(t *testing.T) {
	l := newLedger(nil, 0, nil)
	l.add(nil)   // first part of an item
	l.add(cp(1)) // last part, with the item's position
	l.add(nil)   // first part of the next item
	l.ack(1)
	if got, v := l.committable(); got != nil || v != 0 {
		t.Errorf("committable %x (version %d) before the first part is acked, want none", got, v)
	}
	l.ack(0)
	l.ack(2)
	if got, v := l.committable(); uncp(got) != 1 || v != 1 {
		t.Errorf("committable %d (version %d), want 1 (version 1): a record without a position keeps the last one", uncp(got), v)
	}
}

func TestLedgerSignalsDueEveryN(t *testing.T) {
	l := newLedger(nil, 3, nil)
	for i := range 7 {
		l.add(cp(uint64(i + 1)))
	}
	l.ack(0)
	l.ack(1)
	select {
	case <-l.due:
		t.Fatal("due after 2 records, want after 3")
	default:
	}
	l.ack(2)
	select {
	case <-l.due:
	default:
		t.Fatal("not due after 3 records")
	}
}

func TestLedgerIgnoresUnknownSequence(t *testing.T) {
	l := newLedger(nil, 0, nil)
	l.add(cp(1))
	l.ack(5)
	l.fail(7, errors.New("x"))
	l.ack(0)
	l.ack(0)
	if got, _ := l.committable(); uncp(got) != 1 {
		t.Errorf("committable %d, want 1", uncp(got))
	}
}

// TestLedgerRandomOrderNeverPassesPendingRecord acknowledges records in
// random order, with some failing, and checks after every outcome that
// the committable checkpoint covers only acknowledged records.
func TestLedgerRandomOrderNeverPassesPendingRecord(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	const n = 2000
	l := newLedger(nil, 0, nil)
	acked := make([]bool, n)
	failed := -1
	order := rng.Perm(n)
	added := 0
	for _, i := range order {
		// Add records in order, ahead of the outcomes, as the pipeline does.
		for added <= i || (added < n && rng.IntN(4) == 0) {
			l.add(cp(uint64(added + 1)))
			added++
		}
		if failed < 0 && rng.IntN(n) == 0 {
			l.fail(uint64(i), errors.New("x"))
			failed = i
		} else {
			l.ack(uint64(i))
			acked[i] = true
		}

		got, _ := l.committable()
		for j := range int(uncp(got)) {
			if !acked[j] {
				t.Fatalf("committable %d covers record %d, which is not acked", uncp(got), j)
			}
		}
	}
	got, _ := l.committable()
	want := uint64(n)
	if failed >= 0 {
		want = uint64(failed)
	}
	if uncp(got) != want {
		t.Errorf("final committable %d, want %d (failed record %d)", uncp(got), want, failed)
	}
}
