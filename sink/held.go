package sink

import (
	"sync"

	"github.com/danube-messaging/danube-connect-go/danube"
)

// heldKey identifies a message of a reliable topic across its deliveries:
// the partition it is stored on and its offset there. Acks go by the same
// pair, so acking any delivery of a message settles every delivery of it.
type heldKey struct {
	partition string
	offset    uint64
}

// heldSet is the set of messages that a Source admitted into its pipeline
// and has not yet settled. Source.Receive uses it to recognize a
// redelivery of a message still in the pipeline. The broker sends a
// reliable message again when its ack timeout passes and when the
// consumer's stream reconnects, even while the first delivery waits for a
// slow write.
//
// A key counts its deliveries, because one message can be admitted twice
// when the consumer's delivery count started again (see
// danube.Message.DeliveryAttempt), and the key must stay until both are
// settled.
type heldSet struct {
	mu   sync.Mutex
	keys map[heldKey]int32
}

// tracked reports whether the set follows msg. A message at offset 0 is
// not followed: every message of a non-reliable topic has offset 0, and
// the Source cannot tell such a topic from the first message of a
// reliable one.
//
// NOTE: so the redelivery of the message at offset 0 of a reliable
// partition is not recognized, and is written a second time.
func tracked(msg *danube.Message) bool {
	return msg.ID.Offset != 0
}

// admit decides, under one lock, which of msgs enter the pipeline, and
// stores the decision on msgs[i] in keep[i]. A message is dropped when its
// DeliveryAttempt is above 1 and the set contains its key. Every other
// message is kept, and its key is added when tracked accepts it. admit
// returns the count of messages dropped.
func (h *heldSet) admit(msgs []*danube.Message, keep []admission) (dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys == nil {
		h.keys = make(map[heldKey]int32)
	}
	for i, msg := range msgs {
		if !tracked(msg) {
			keep[i] = admitted
			continue
		}
		k := heldKey{partition: msg.ID.Topic, offset: msg.ID.Offset}
		if msg.DeliveryAttempt > 1 && h.keys[k] > 0 {
			keep[i] = droppedHeld
			dropped++
			continue
		}
		h.keys[k]++
		keep[i] = admittedHeld
	}
	return dropped
}

// release removes one delivery of msg, admitted with admittedHeld.
func (h *heldSet) release(msg *danube.Message) {
	k := heldKey{partition: msg.ID.Topic, offset: msg.ID.Offset}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.keys[k]; n > 1 {
		h.keys[k] = n - 1
	} else {
		delete(h.keys, k)
	}
}

// len returns the number of messages in the set.
func (h *heldSet) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.keys)
}

// admission is heldSet.admit's decision on one message.
type admission uint8

const (
	admitted     admission = iota // enters the pipeline; the set does not follow it
	admittedHeld                  // enters the pipeline, and is in the set until settled
	droppedHeld                   // a redelivery of a message in the set: dropped unsettled
)
