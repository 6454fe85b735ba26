package danubetest

import (
	"fmt"
	"strings"
	"unicode"
)

// partitionSeparator joins a partitioned topic's base name and the index of
// one of its partitions: partition i of /ns/t is /ns/t-part-i.
const partitionSeparator = "-part-"

// PartitionName returns the name of partition i of the partitioned topic
// base, "<base>-part-<i>".
func PartitionName(base string, i int) string {
	return fmt.Sprintf("%s%s%d", base, partitionSeparator, i)
}

// validTopicName reports whether name has the broker's topic format: exactly
// "/namespace/topic", each part made of Unicode letters and digits, '_' and
// '-'. Empty parts pass, as they do on the broker.
func validTopicName(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "" {
		return false
	}
	for _, part := range parts[1:] {
		for _, r := range part {
			if !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '_' && r != '-' {
				return false
			}
		}
	}
	return true
}

// namespaceOf returns the namespace part of a valid topic name.
func namespaceOf(topic string) string {
	return strings.Split(topic, "/")[1]
}

func invalidTopicMessage(name string) string {
	return fmt.Sprintf("invalid topic name %q: the format is /namespace/topic, with letters, digits, '_' and '-'", name)
}
