package danube

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicAcceptsValidNames(t *testing.T) {
	for _, name := range []string{
		"/default/orders",
		"/iot/sensors_zone1",
		"/a-b/c-d",
		"/ns/ünïcode",
		"/ns/part-3",
		"/ns/t-part-x",
		"/ns/t-part-03",
	} {
		if err := ValidateTopic(name); err != nil {
			t.Errorf("ValidateTopic(%q) = %v, want nil", name, err)
		}
	}
}

func TestValidateTopicNamesBrokenRule(t *testing.T) {
	tests := []struct {
		name string
		rule string // a fragment of the message that names the rule
	}{
		{"", "empty"},
		{"default/x", `start with "/"`},
		{"/a/b/c", "exactly two segments"},
		{"/onlyone", "exactly two segments"},
		{"/default/my.topic", "'.'"},
		{"/default/my topic", `' '`},
		{"/default/a:b", `':'`},
		{"//x", "namespace segment is empty"},
		{"/ns/", "topic segment is empty"},
		{"/ns/t-part-2", "reserved for partitions"},
		{"/ns/t-part-0", "reserved for partitions"},
	}
	for _, tt := range tests {
		err := ValidateTopic(tt.name)
		if err == nil {
			t.Errorf("ValidateTopic(%q) = nil, want an error", tt.name)
			continue
		}
		if !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ValidateTopic(%q) = %v, want it to wrap ErrInvalidTopic", tt.name, err)
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateTopic(%q) = %v, want code InvalidArgument", tt.name, err)
		}
		if !strings.Contains(err.Error(), tt.rule) {
			t.Errorf("ValidateTopic(%q) = %q, want it to name the rule (%q)", tt.name, err, tt.rule)
		}
	}
}

func TestValidateTopicOrPartitionAcceptsPartitions(t *testing.T) {
	if err := validateTopicOrPartition("/ns/t-part-2"); err != nil {
		t.Fatalf("validateTopicOrPartition(partition) = %v, want nil", err)
	}
	if err := validateTopicOrPartition("/ns/t.x"); err == nil {
		t.Fatal("validateTopicOrPartition accepted a name with '.'")
	}
}

func TestSplitPartition(t *testing.T) {
	tests := []struct {
		name  string
		base  string
		index int
		ok    bool
	}{
		{"/ns/t-part-0", "/ns/t", 0, true},
		{"/ns/t-part-12", "/ns/t", 12, true},
		{"/ns/a-part-b-part-3", "/ns/a-part-b", 3, true},
		{"/ns/t", "", 0, false},
		{"/ns/t-part-", "", 0, false},
		{"/ns/t-part-01", "", 0, false},
		{"/ns/t-part--1", "", 0, false},
		{"/ns/t-part-1x", "", 0, false},
	}
	for _, tt := range tests {
		base, index, ok := SplitPartition(tt.name)
		if base != tt.base || index != tt.index || ok != tt.ok {
			t.Errorf("SplitPartition(%q) = %q, %d, %v; want %q, %d, %v", tt.name, base, index, ok, tt.base, tt.index, tt.ok)
		}
	}
	if got := PartitionName("/ns/t", 7); got != "/ns/t-part-7" {
		t.Errorf("PartitionName = %q, want /ns/t-part-7", got)
	}
}

func TestSortPartitionsByIndex(t *testing.T) {
	got := sortPartitions([]string{"/n/t-part-10", "/n/t-part-2", "/n/t-part-0"})
	want := []string{"/n/t-part-0", "/n/t-part-2", "/n/t-part-10"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sortPartitions = %v, want %v", got, want)
	}
}
