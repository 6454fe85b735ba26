package danube

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
)

// partitionSeparator joins a partitioned topic's base name and the index of
// one of its partitions: partition i of /ns/t is the topic /ns/t-part-i.
const partitionSeparator = "-part-"

// ValidateTopic checks a topic name against the broker's naming rules and
// the suffix this client reserves for partitions. It returns nil or an
// *Error that wraps ErrInvalidTopic and names the broken rule.
//
// A topic name is "/namespace/name": a leading slash and exactly two
// non-empty segments, each made of letters, digits, '_' and '-' (no '.',
// no further '/'). The name must not end in "-part-N", which names
// partition N of a partitioned topic.
//
// Every method that takes a topic calls ValidateTopic before any network
// call; exported so that configuration can be checked early.
func ValidateTopic(topic string) error {
	if err := checkTopicFormat(topic); err != nil {
		return err
	}
	if base, _, ok := SplitPartition(topic); ok {
		return invalidTopic(topic, fmt.Sprintf("the suffix %q is reserved for partitions of %s", strings.TrimPrefix(topic, base), base))
	}
	return nil
}

// validateTopicOrPartition accepts what ValidateTopic accepts and also a
// partition name such as /ns/t-part-3, for operations that address one
// existing partition (unload, failure policy).
func validateTopicOrPartition(topic string) error {
	return checkTopicFormat(topic)
}

func checkTopicFormat(topic string) error {
	if topic == "" {
		return invalidTopic(topic, "the name is empty")
	}
	if !strings.HasPrefix(topic, "/") {
		return invalidTopic(topic, `the name must start with "/" as in /namespace/topic`)
	}

	segments := strings.Split(topic[1:], "/")
	if len(segments) != 2 {
		return invalidTopic(topic, fmt.Sprintf("the name must have exactly two segments, /namespace/topic, not %d", len(segments)))
	}

	for i, seg := range segments {
		what := [...]string{"namespace", "topic"}[i]
		if seg == "" {
			return invalidTopic(topic, fmt.Sprintf("the %s segment is empty", what))
		}
		for _, r := range seg {
			if r == '.' {
				return invalidTopic(topic, fmt.Sprintf("the %s segment contains '.', which the broker rejects", what))
			}
			if !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '_' && r != '-' {
				return invalidTopic(topic, fmt.Sprintf("the %s segment contains %q; only letters, digits, '_' and '-' are allowed", what, r))
			}
		}
	}
	return nil
}

func invalidTopic(topic, rule string) error {
	return localError("validate topic", topic, codes.InvalidArgument, fmt.Errorf("%w %q: %s", ErrInvalidTopic, topic, rule))
}

// PartitionName returns the name of partition i of topic: topic-part-i.
func PartitionName(topic string, i int) string {
	return topic + partitionSeparator + strconv.Itoa(i)
}

// SplitPartition splits a partition name such as /ns/t-part-3 into its base
// topic and index. ok is false when name does not end in -part-N with N a
// decimal number without sign or leading zeros.
func SplitPartition(name string) (base string, index int, ok bool) {
	at := strings.LastIndex(name, partitionSeparator)
	if at < 0 {
		return "", 0, false
	}
	digits := name[at+len(partitionSeparator):]
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return "", 0, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return "", 0, false
	}
	return name[:at], n, true
}

// sortPartitions sorts partition names by index, a non-partitioned name
// first, and returns names.
func sortPartitions(names []string) []string {
	index := func(name string) int {
		if _, i, ok := SplitPartition(name); ok {
			return i
		}
		return -1
	}
	sort.Slice(names, func(a, b int) bool { return index(names[a]) < index(names[b]) })
	return names
}
