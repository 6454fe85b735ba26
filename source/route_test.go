package source_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
)

// partitionOf returns the partition a routing key maps to: FNV-1a (64
// bit) of the key modulo the partition count, as every Danube client
// computes it.
func partitionOf(key string, partitions int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(partitions))
}

func TestRecordsRoutedByKeyToPartitions(t *testing.T) {
	const partitions = 4
	b := danubetest.Start(t)
	recs := makeRecords(40)
	for i := range recs {
		recs[i].Key = fmt.Sprintf("customer-%d", i%10)
	}
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.Partitions = partitions
	rt := newRuntime(t, newClient(t, b), pollLog{newLog(recs, 8)}, opts)

	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}

	var parts []string
	used := make(map[int]bool)
	for p := range partitions {
		part := danube.PartitionName(testTopic, p)
		parts = append(parts, part)
		for _, m := range b.Messages(part) {
			if want := partitionOf(m.RoutingKey, partitions); want != p {
				t.Errorf("%s with key %s in partition %d, want %d", m.Payload, m.RoutingKey, p, want)
			}
			used[p] = true
		}
	}
	if len(used) < 2 {
		t.Errorf("records in partitions %v, want them spread by key", used)
	}
	checkAllOnce(t, b, 40, parts...)
}

func TestRecordTopicSelectsRoute(t *testing.T) {
	const other = "/default/audit"
	b := danubetest.Start(t)
	recs := makeRecords(20)
	for i := range recs {
		if i%2 == 1 {
			recs[i].Topic = other
		}
	}
	opts := testOptions(clock.NewFake(time.Time{}))
	opts.Routes = []source.Route{{Topic: other, Partitions: 2}}
	log := newLog(recs, 5)
	rt := newRuntime(t, newClient(t, b), pollLog{log}, opts)

	if err := rt.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, m := range b.Messages(testTopic) {
		var i int
		fmt.Sscanf(string(m.Payload), "record-%d", &i)
		if i%2 == 1 {
			t.Errorf("%s in the default topic, want %s", m.Payload, other)
		}
	}
	otherParts := []string{danube.PartitionName(other, 0), danube.PartitionName(other, 1)}
	checkAllOnce(t, b, 20, append(otherParts, testTopic)...)
	if got := unpos(t, log.lastCommit()); got != 20 {
		t.Errorf("last commit at %d, want 20: one checkpoint spans every topic", got)
	}
}
