package danubetest

import (
	"fmt"
	"hash/fnv"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		text, pattern string
		want          bool
	}{
		{"user-123", "user-*", true},
		{"order-123", "user-*", false},
		{"us-a", "us-?", true},
		{"us-ab", "us-?", false},
		{"", "*", true},
		{"anything", "*", true},
		{"exact", "exact", true},
		{"exact", "other", false},
		{"eu-west-1-order", "eu-*-order", true},
		{"eu-west-1-payment", "eu-*-order", false},
		{"a-b-c", "*-*-*", true},
		{"abc", "a**c", true},
		{"ab", "a?c", false},
	}
	for _, tc := range cases {
		if got := globMatch(tc.text, tc.pattern); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.text, tc.pattern, got, tc.want)
		}
	}
}

func TestKeyHashFoldsFNV1a64AndMixes(t *testing.T) {
	for _, key := range []string{"", "order-123", "k", "42-99"} {
		h := fnv.New64a()
		h.Write([]byte(key))
		sum := h.Sum64()
		want := uint32(sum>>32) ^ uint32(sum)
		want ^= want >> 16
		want *= 0x85ebca6b
		want ^= want >> 13
		want *= 0xc2b2ae35
		want ^= want >> 16
		if got := keyHash(key); got != want {
			t.Errorf("keyHash(%q) = %#x, want %#x", key, got, want)
		}
	}
}

func TestHashRingHasHundredPointsPerConsumerAndMovesFewKeys(t *testing.T) {
	consumers := []*consumer{{id: 1}, {id: 2}}
	ring := buildRing(consumers)
	if len(ring) != 2*vnodesPerConsumer {
		t.Fatalf("ring has %d points, want %d", len(ring), 2*vnodesPerConsumer)
	}
	keys := make([]string, 1000)
	before := make([]*consumer, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
		before[i] = ring.pick(consumers, keys[i])
	}

	grown := append(consumers, &consumer{id: 3})
	ring = buildRing(grown)
	moved := 0
	for i, k := range keys {
		after := ring.pick(grown, k)
		if after != before[i] {
			if after != grown[2] {
				t.Fatalf("key %q moved between old consumers", k)
			}
			moved++
		}
	}
	if moved == 0 || moved > len(keys)/2 {
		t.Fatalf("%d of %d keys moved to the new consumer, want some but at most half", moved, len(keys))
	}
}

func TestInflightWindowAdvancesOverSettledSlots(t *testing.T) {
	var w inflightWindow
	w.reset(10)
	for off := uint64(10); off < 14; off++ {
		w.push(&pending{offset: off})
	}
	if w.remove(11) {
		t.Fatalf("removing 11 advanced the base past the unsettled 10")
	}
	if !w.remove(10) || w.base != 12 {
		t.Fatalf("base = %d after settling 10 and 11, want 12", w.base)
	}
	if w.pushSkipped() {
		t.Fatalf("a skipped slot behind 12 and 13 advanced the base")
	}
	w.remove(12)
	w.remove(13)
	if w.base != 15 || w.live != 0 {
		t.Fatalf("base %d live %d, want 15 and 0", w.base, w.live)
	}
	if w.get(14) != nil || w.get(9) != nil {
		t.Fatalf("settled offsets still in the window")
	}
}

func TestRedeliveryDelay(t *testing.T) {
	p := DefaultFailurePolicy()
	for attempt, want := range map[uint32]int64{0: 1, 1: 1, 2: 2, 3: 4, 7: 60, 100: 60} {
		if got := p.redeliveryDelay(attempt, 0); got.Seconds() != float64(want) {
			t.Errorf("attempt %d: delay %v, want %ds", attempt, got, want)
		}
	}
}
