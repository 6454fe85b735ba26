package source

import "sync"

// The states of a record in the ledger.
const (
	entryPending uint8 = iota // handed to the pipeline, no outcome yet
	entryAcked                // acknowledged by the broker
	entryFailed               // not published; holds the checkpoint back for good
)

type ledgerEntry struct {
	pos   Checkpoint
	state uint8
}

// ledger tracks the records of one Run in the order in which the connector
// handed them out, and finds the checkpoint that may be committed. Take
// the longest prefix of records that the broker has acknowledged: the
// checkpoint is the Position of its last record that has one. Sends run
// several at a time and
// complete in any order, so a record acknowledged early waits in the
// ledger until every record before it is acknowledged too. A record that
// failed stays in the ledger, and the checkpoint never passes it.
//
// The ledger holds only the records after the prefix, which the
// pipeline's in-flight limit bounds. It is safe for concurrent use.
type ledger struct {
	mu      sync.Mutex
	entries []ledgerEntry // entries[head:] are the records from base on
	head    int
	base    uint64 // sequence number of entries[head]
	next    uint64 // sequence number of the next record added

	safe    Checkpoint // the committable checkpoint
	version uint64     // counts the changes of safe

	every   int           // signal due after this many records join the prefix; 0 never
	pending int           // records joined since the last signal
	due     chan struct{} // capacity 1

	failures int
	onFail   func(seq uint64, err error)
}

// newLedger returns a ledger that starts at the checkpoint start, signals
// due every every records (never when every is 0), and calls onFail for
// each record that fails.
func newLedger(start Checkpoint, every int, onFail func(seq uint64, err error)) *ledger {
	return &ledger{
		safe:   start,
		every:  every,
		due:    make(chan struct{}, 1),
		onFail: onFail,
	}
}

// add records a record with position pos, handed to the pipeline after
// every record added before, and returns its sequence number.
func (l *ledger) add(pos Checkpoint) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.head > 0 && l.head >= len(l.entries)/2 {
		// Reuse the front of the slice rather than let it grow without end.
		n := copy(l.entries, l.entries[l.head:])
		clear(l.entries[n:])
		l.entries = l.entries[:n]
		l.head = 0
	}
	l.entries = append(l.entries, ledgerEntry{pos: pos})
	seq := l.next
	l.next++
	return seq
}

// entry returns the entry of seq, or nil if seq is not in the ledger.
// Called with l.mu held.
func (l *ledger) entry(seq uint64) *ledgerEntry {
	if seq < l.base || seq >= l.next {
		return nil
	}
	return &l.entries[l.head+int(seq-l.base)]
}

// ack records that the broker acknowledged record seq. An outcome for a
// record that has one already is ignored.
func (l *ledger) ack(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(seq)
	if e == nil || e.state != entryPending {
		return
	}
	e.state = entryAcked
	if seq != l.base {
		return
	}

	joined := 0
	for l.head < len(l.entries) && l.entries[l.head].state == entryAcked {
		if pos := l.entries[l.head].pos; pos != nil {
			l.safe = pos
			l.version++
		}
		l.entries[l.head] = ledgerEntry{}
		l.head++
		l.base++
		joined++
	}
	if l.every > 0 {
		l.pending += joined
		if l.pending >= l.every {
			l.pending = 0
			select {
			case l.due <- struct{}{}:
			default:
			}
		}
	}
}

// fail records that record seq was not published, for the reason err.
func (l *ledger) fail(seq uint64, err error) {
	l.mu.Lock()
	e := l.entry(seq)
	if e == nil || e.state != entryPending {
		l.mu.Unlock()
		return
	}
	e.state = entryFailed
	l.failures++
	l.mu.Unlock()

	if l.onFail != nil {
		l.onFail(seq, err)
	}
}

// committable returns the checkpoint that may be committed and its
// version, which grows each time the checkpoint moves.
func (l *ledger) committable() (Checkpoint, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.safe, l.version
}

// ledgerCounts is a snapshot of a ledger's counters.
type ledgerCounts struct {
	added    uint64 // records handed to the pipeline
	prefix   uint64 // records in the acknowledged prefix
	inFlight int    // records after the prefix
	failed   int    // records that failed
}

func (l *ledger) counts() ledgerCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ledgerCounts{
		added:    l.next,
		prefix:   l.base,
		inFlight: int(l.next - l.base),
		failed:   l.failures,
	}
}
