package danube

import (
	"hash/fnv"
	"testing"
)

func TestFNV1a64MatchesReference(t *testing.T) {
	known := map[string]uint64{
		"":       0xcbf29ce484222325,
		"a":      0xaf63dc4c8601ec8c,
		"foobar": 0x85944171f73967e8,
	}
	for key, want := range known {
		if got := fnv1a64(key); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", key, got, want)
		}
	}
	for _, key := range []string{"order-42", "ключ", "x\x00y"} {
		h := fnv.New64a()
		h.Write([]byte(key))
		if got, want := fnv1a64(key), h.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", key, got, want)
		}
	}
}

func TestRouterKeyPicksHashModuloPartitions(t *testing.T) {
	r := newRouter(3)
	tests := map[string]int{"a": 1, "foobar": 0, "order-42": 2}
	for key, want := range tests {
		for range 3 {
			if got := r.partition(key); got != want {
				t.Errorf("partition(%q) = %d, want %d", key, got, want)
			}
		}
	}
}

func TestRouterRoundRobinStartsAtZero(t *testing.T) {
	r := newRouter(3)
	var got []int
	for range 7 {
		got = append(got, r.partition(""))
	}
	want := []int{0, 1, 2, 0, 1, 2, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("round robin = %v, want %v", got, want)
		}
	}
}

func TestRouterSinglePartitionAlwaysZero(t *testing.T) {
	r := newRouter(1)
	for _, key := range []string{"", "a", "foobar"} {
		if got := r.partition(key); got != 0 {
			t.Errorf("partition(%q) on one partition = %d, want 0", key, got)
		}
	}
}

func BenchmarkRouterKey(b *testing.B) {
	r := newRouter(16)
	b.ReportAllocs()
	for b.Loop() {
		r.partition("customer-123456")
	}
}
