package danubetest

import (
	"sort"
	"strconv"
)

// vnodesPerConsumer is the number of points each consumer has on a
// Key-Shared subscription's hash ring.
const vnodesPerConsumer = 100

// hashRing is the consistent-hash ring of a Key-Shared subscription. Each
// consumer has vnodesPerConsumer points, the hashes of "<consumer id>-<i>";
// a key belongs to the first point at or after its hash, wrapping around.
type hashRing []ringNode

type ringNode struct {
	hash  uint32
	index int // into the subscription's consumers
}

func buildRing(consumers []*consumer) hashRing {
	ring := make(hashRing, 0, len(consumers)*vnodesPerConsumer)
	for i, c := range consumers {
		prefix := strconv.FormatUint(c.id, 10) + "-"
		for v := 0; v < vnodesPerConsumer; v++ {
			ring = append(ring, ringNode{hash: keyHash(prefix + strconv.Itoa(v)), index: i})
		}
	}
	sort.SliceStable(ring, func(i, j int) bool { return ring[i].hash < ring[j].hash })
	return ring
}

// pick returns the consumer that owns key among those whose key filters
// accept it, or nil when none does. Inactive consumers keep their place on
// the ring, so their keys wait for them.
func (r hashRing) pick(consumers []*consumer, key string) *consumer {
	filtered := false
	for _, c := range consumers {
		if len(c.filters) > 0 {
			filtered = true
			break
		}
	}
	if !filtered {
		switch len(consumers) {
		case 0:
			return nil
		case 1:
			return consumers[0]
		}
		return consumers[r.lookup(keyHash(key))]
	}

	var eligible []int
	for i, c := range consumers {
		if acceptsKey(c.filters, key) {
			eligible = append(eligible, i)
		}
	}
	switch {
	case len(eligible) == 0:
		return nil
	case len(eligible) == 1:
		return consumers[eligible[0]]
	}

	h := keyHash(key)
	ring := r
	if len(eligible) < len(consumers) {
		allowed := make(map[int]bool, len(eligible))
		for _, i := range eligible {
			allowed[i] = true
		}
		ring = make(hashRing, 0, len(eligible)*vnodesPerConsumer)
		for _, n := range r {
			if allowed[n.index] {
				ring = append(ring, n)
			}
		}
	}
	if len(ring) == 0 {
		return nil
	}
	return consumers[ring.lookup(h)]
}

// lookup returns the consumer index of the first point at or after h.
func (r hashRing) lookup(h uint32) int {
	i := sort.Search(len(r), func(i int) bool { return r[i].hash >= h })
	if i == len(r) {
		i = 0
	}
	return r[i].index
}

// keyHash is the ring hash: 64-bit FNV-1a, folded to 32 bits by XOR of its
// halves, then mixed with the MurmurHash3 32-bit finalizer.
func keyHash(key string) uint32 {
	h64 := uint64(0xcbf29ce484222325)
	for i := 0; i < len(key); i++ {
		h64 ^= uint64(key[i])
		h64 *= 0x100000001b3
	}
	h := uint32(h64>>32) ^ uint32(h64)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// acceptsKey reports whether a consumer with filters takes key: no filters
// take every key, else one of the glob patterns must match.
func acceptsKey(filters []string, key string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if globMatch(key, f) {
			return true
		}
	}
	return false
}

// globMatch matches text against pattern, where '*' matches any run of
// bytes and '?' exactly one byte.
func globMatch(text, pattern string) bool {
	ti, pi := 0, 0
	star, mark := -1, 0
	for ti < len(text) {
		switch {
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == text[ti]):
			ti++
			pi++
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
