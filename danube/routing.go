package danube

import "sync/atomic"

// FNV-1a, 64 bit: the hash the broker's own clients use to map a routing key
// to a partition, so that producers of every language agree on it.
const (
	fnvOffsetBasis uint64 = 0xcbf29ce484222325
	fnvPrime       uint64 = 0x100000001b3
)

// fnv1a64 hashes key with 64-bit FNV-1a. It does not allocate.
func fnv1a64(key string) uint64 {
	h := fnvOffsetBasis
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime
	}
	return h
}

// router picks the partition of each message of a partitioned producer:
// by routing key when the message has one, round robin otherwise, starting
// at partition 0. It is safe for concurrent use.
type router struct {
	n    uint64
	next atomic.Uint64
}

func newRouter(partitions int) *router {
	return &router{n: uint64(partitions)}
}

// partition returns the partition index for a message with routing key
// key ("" for none).
func (r *router) partition(key string) int {
	if r.n <= 1 {
		return 0
	}
	if key != "" {
		return int(fnv1a64(key) % r.n)
	}
	return int((r.next.Add(1) - 1) % r.n)
}
