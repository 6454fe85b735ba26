package danubetest

import (
	"sync"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

// messageLog is the stored message sequence of a reliable topic, the
// in-memory stand-in for the broker's write-ahead log. It survives topic
// unloads, moves between brokers of a cluster and broker restarts, as shared
// storage does.
//
// NOTE: messages are never trimmed, so memory grows with every message a
// broker stores, a few hundred bytes each plus the payload, and each
// reliable subscription keeps a delivery count per message it sent. Long
// soak runs should use a fresh broker or topic now and then.
type messageLog struct {
	mu   sync.RWMutex
	msgs []*danubepb.StreamMessage
}

// append stamps m with the next topic offset and stores it. The caller hands
// over m and must not change it afterwards, because dispatchers send the
// stored message itself.
func (l *messageLog) append(m *danubepb.StreamMessage) uint64 {
	l.mu.Lock()
	offset := uint64(len(l.msgs))
	m.MsgId.TopicOffset = offset
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
	return offset
}

// end returns the offset the next appended message will get.
func (l *messageLog) end() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return uint64(len(l.msgs))
}

// read appends to dst the messages from offset from, at most max of them.
func (l *messageLog) read(dst []*danubepb.StreamMessage, from uint64, max int) []*danubepb.StreamMessage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if from >= uint64(len(l.msgs)) {
		return dst
	}
	upto := from + uint64(max)
	if upto > uint64(len(l.msgs)) {
		upto = uint64(len(l.msgs))
	}
	return append(dst, l.msgs[from:upto]...)
}

// record stores m without stamping an offset. Non-reliable topics have no
// storage on the broker; their log exists only so that tests can inspect
// what was published.
func (l *messageLog) record(m *danubepb.StreamMessage) {
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
}

// snapshot returns the stored messages.
func (l *messageLog) snapshot() []*danubepb.StreamMessage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]*danubepb.StreamMessage(nil), l.msgs...)
}
