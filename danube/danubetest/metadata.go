package danubetest

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metadata is what the brokers of one cluster share and what survives a
// broker restart: namespaces, topic definitions and their owners, stored
// messages, subscription cursors and policies, and the schema registry. It
// replaces the broker's Raft metadata store and its shared storage.
type metadata struct {
	mu         sync.Mutex
	brokers    []*Broker
	namespaces map[string]bool
	topics     map[string]*topicMeta
	schemas    *schemaRegistry
}

// topicMeta is the stored definition of one topic.
type topicMeta struct {
	name     string
	reliable bool
	log      *messageLog

	// schema is replaced as a whole, so that publishes read it without a
	// lock.
	schema atomic.Pointer[topicSchema]
	// schemaWarnings counts messages accepted despite a failed schema check
	// under policy warn.
	schemaWarnings atomic.Uint64

	// Guarded by metadata.mu.
	owner *Broker
	subs  map[string]*subMeta
}

// topicSchema is the schema configuration of a topic.
type topicSchema struct {
	subject           string
	policy            string // none, warn or enforce
	payloadValidation bool
}

// subMeta is the stored state of one subscription. It is guarded by
// metadata.mu.
type subMeta struct {
	// subType is fixed by the first Subscribe; it is subTypeUnset while
	// only admin calls have stored state for the subscription.
	subType int32
	// cursor is the persisted cursor, the highest offset up to which every
	// message is acknowledged, or -1 when none was persisted.
	cursor int64
	policy *FailurePolicy
	window int // 0 when no override is stored
}

func newMetadata(namespaces []string) *metadata {
	md := &metadata{
		namespaces: map[string]bool{},
		topics:     map[string]*topicMeta{},
		schemas:    newSchemaRegistry(),
	}
	for _, ns := range namespaces {
		md.namespaces[ns] = true
	}
	return md
}

func (md *metadata) topic(name string) *topicMeta {
	md.mu.Lock()
	defer md.mu.Unlock()
	return md.topics[name]
}

func (md *metadata) ownerOf(t *topicMeta) *Broker {
	md.mu.Lock()
	defer md.mu.Unlock()
	return t.owner
}

func (md *metadata) setOwner(t *topicMeta, b *Broker) {
	md.mu.Lock()
	t.owner = b
	md.mu.Unlock()
}

// createTopic stores a new topic owned by owner after the broker's checks.
// A missing namespace is UNAVAILABLE. A taken name, a partition beside a
// non-partitioned topic of its base name, and a non-partitioned name that
// is the prefix of an existing topic name are ALREADY_EXISTS.
func (md *metadata) createTopic(name string, reliable bool, subject string, owner *Broker) (*topicMeta, error) {
	if !validTopicName(name) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(name))
	}

	md.mu.Lock()
	defer md.mu.Unlock()

	ns := namespaceOf(name)
	if !md.namespaces[ns] {
		return nil, status.Errorf(codes.Unavailable, "namespace %q does not exist: create it before topics in it", ns)
	}
	if md.topics[name] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "topic %s already exists", name)
	}
	if base, _, ok := cutLast(name, partitionSeparator); ok {
		if md.topics[base] != nil {
			return nil, status.Errorf(codes.AlreadyExists, "cannot create partition %s: the non-partitioned topic %s exists", name, base)
		}
	} else if others := md.withPrefixLocked(name); len(others) > 0 {
		return nil, status.Errorf(codes.AlreadyExists, "cannot create topic %s: %d topics have it as a name prefix, such as %s", name, len(others), others[0])
	}

	t := &topicMeta{
		name:     name,
		reliable: reliable,
		log:      &messageLog{},
		owner:    owner,
		subs:     map[string]*subMeta{},
	}
	t.schema.Store(&topicSchema{subject: subject, policy: "warn"})
	md.topics[name] = t
	return t, nil
}

// partitions returns the TopicPartitions result for name: the topic alone
// if it exists, else every topic whose name starts with name, sorted.
func (md *metadata) partitions(name string) []string {
	md.mu.Lock()
	defer md.mu.Unlock()
	if md.topics[name] != nil {
		return []string{name}
	}
	return md.withPrefixLocked(name)
}

func (md *metadata) withPrefixLocked(prefix string) []string {
	var names []string
	for n := range md.topics {
		if strings.HasPrefix(n, prefix) && n != prefix {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (md *metadata) createNamespace(name string) bool {
	md.mu.Lock()
	defer md.mu.Unlock()
	if md.namespaces[name] {
		return false
	}
	md.namespaces[name] = true
	return true
}

func (md *metadata) namespaceList() []string {
	md.mu.Lock()
	defer md.mu.Unlock()
	names := make([]string, 0, len(md.namespaces))
	for n := range md.namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// namespaceTopics returns the topics of namespace ns, sorted.
func (md *metadata) namespaceTopics(ns string) []*topicMeta {
	md.mu.Lock()
	defer md.mu.Unlock()
	var ts []*topicMeta
	for _, t := range md.topics {
		if namespaceOf(t.name) == ns {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	return ts
}

// subTypeUnset marks a stored subscription that no consumer created yet.
const subTypeUnset int32 = -1

// subscription returns the stored state of subscription sub of t, creating
// it when create is set. A subType other than subTypeUnset fixes the type
// of a subscription that has none yet.
func (md *metadata) subscription(t *topicMeta, sub string, subType int32, create bool) *subMeta {
	md.mu.Lock()
	defer md.mu.Unlock()
	s := t.subs[sub]
	if s == nil && create {
		s = &subMeta{subType: subTypeUnset, cursor: -1}
		t.subs[sub] = s
	}
	if s != nil && s.subType == subTypeUnset && subType != subTypeUnset {
		s.subType = subType
	}
	return s
}

func (md *metadata) subscriptionNames(t *topicMeta) []string {
	md.mu.Lock()
	defer md.mu.Unlock()
	names := make([]string, 0, len(t.subs))
	for n := range t.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (md *metadata) deleteSubscription(t *topicMeta, sub string) {
	md.mu.Lock()
	delete(t.subs, sub)
	md.mu.Unlock()
}

// persistCursor stores cursor as the persisted cursor of s.
func (md *metadata) persistCursor(s *subMeta, cursor int64) {
	md.mu.Lock()
	if cursor > s.cursor {
		s.cursor = cursor
	}
	md.mu.Unlock()
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
