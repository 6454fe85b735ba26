package danubetest

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
)

// adminService serves the topic administration a connector needs. The
// other TopicAdmin calls return UNIMPLEMENTED.
type adminService struct {
	adminpb.UnimplementedTopicAdminServer
	inst *instance
}

func adminStrategy(s adminpb.DispatchStrategy) (bool, error) {
	switch s {
	case adminpb.DispatchStrategy_NonReliable:
		return false, nil
	case adminpb.DispatchStrategy_Reliable:
		return true, nil
	}
	return false, status.Errorf(codes.InvalidArgument, "invalid dispatch strategy %d", s)
}

// CreateTopic creates a topic owned by this broker.
func (s *adminService) CreateTopic(ctx context.Context, req *adminpb.NewTopicRequest) (*adminpb.TopicResponse, error) {
	reliable, err := adminStrategy(req.GetDispatchStrategy())
	if err != nil {
		return nil, err
	}
	if err := s.inst.b.createTopic(req.GetName(), reliable, req.GetSchemaSubject()); err != nil {
		return nil, adminCreateFailed("topic", req.GetName(), err)
	}
	return &adminpb.TopicResponse{Success: true}, nil
}

// adminCreateFailed returns the error of a refused admin creation. The
// broker returns NOT_FOUND whatever the reason (the topic exists, a name prefix
// conflicts, the schema subject is unknown) and names the reason only in
// the message, so a client cannot tell "already exists" by its code.
func adminCreateFailed(kind, name string, err error) error {
	return status.Errorf(codes.NotFound, "Unable to create the %s %s due to: %s", kind, name, status.Convert(err).Message())
}

// CreatePartitionedTopic creates the partitions <base>-part-0 to
// <base>-part-(n-1).
func (s *adminService) CreatePartitionedTopic(ctx context.Context, req *adminpb.PartitionedTopicRequest) (*adminpb.TopicResponse, error) {
	reliable, err := adminStrategy(req.GetDispatchStrategy())
	if err != nil {
		return nil, err
	}
	if req.GetPartitions() == 0 {
		return nil, status.Error(codes.InvalidArgument, "partitions must be at least 1")
	}
	if !validTopicName(req.GetBaseName()) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(req.GetBaseName()))
	}
	for i := 0; i < int(req.GetPartitions()); i++ {
		if err := s.inst.b.createTopic(PartitionName(req.GetBaseName(), i), reliable, req.GetSchemaSubject()); err != nil {
			return nil, adminCreateFailed("partitioned topic", req.GetBaseName(), err)
		}
	}
	return &adminpb.TopicResponse{Success: true}, nil
}

// createTopic creates a topic owned by b.
func (b *Broker) createTopic(name string, reliable bool, subject string) error {
	if subject != "" && !b.md.schemas.hasSubject(subject) {
		return status.Errorf(codes.FailedPrecondition, "schema subject %q is not registered", subject)
	}
	_, err := b.md.createTopic(name, reliable, subject, b)
	return err
}

// UnloadTopic moves a topic from its broker to another broker of the
// cluster, as the broker's admin call does. In a cluster of one broker it
// fails with FAILED_PRECONDITION.
func (s *adminService) UnloadTopic(ctx context.Context, req *adminpb.TopicRequest) (*adminpb.TopicResponse, error) {
	md := s.inst.b.md
	md.mu.Lock()
	brokers := append([]*Broker(nil), md.brokers...)
	md.mu.Unlock()
	if len(brokers) < 2 {
		return nil, status.Error(codes.FailedPrecondition, "cannot unload a topic from a single-broker cluster: unload needs at least 2 brokers")
	}
	meta := md.topic(req.GetName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "unable to unload topic %s: not found", req.GetName())
	}
	owner := md.ownerOf(meta)
	for _, to := range brokers {
		if to != owner {
			if err := owner.MoveTopic(req.GetName(), to); err != nil {
				return nil, status.Errorf(codes.NotFound, "unable to unload topic %s: %v", req.GetName(), err)
			}
			return &adminpb.TopicResponse{Success: true}, nil
		}
	}
	return nil, status.Errorf(codes.FailedPrecondition, "no other broker to move topic %s to", req.GetName())
}

// ListSubscriptions lists the subscriptions of a topic.
func (s *adminService) ListSubscriptions(ctx context.Context, req *adminpb.TopicRequest) (*adminpb.SubscriptionListResponse, error) {
	meta := s.inst.b.md.topic(req.GetName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetName())
	}
	return &adminpb.SubscriptionListResponse{Subscriptions: s.inst.b.md.subscriptionNames(meta)}, nil
}

// ListNamespaceTopics lists the topics of a namespace with their owners.
func (s *adminService) ListNamespaceTopics(ctx context.Context, req *adminpb.NamespaceRequest) (*adminpb.TopicInfoListResponse, error) {
	resp := &adminpb.TopicInfoListResponse{}
	md := s.inst.b.md
	for _, t := range md.namespaceTopics(req.GetName()) {
		info := &adminpb.TopicInfo{Name: t.name, Delivery: strategyName(t.reliable)}
		if owner := md.ownerOf(t); owner != nil {
			info.BrokerId = owner.id
		}
		resp.Topics = append(resp.Topics, info)
	}
	return resp, nil
}

// DescribeTopic returns a topic's subscriptions, owner, delivery and schema.
func (s *adminService) DescribeTopic(ctx context.Context, req *adminpb.DescribeTopicRequest) (*adminpb.DescribeTopicResponse, error) {
	md := s.inst.b.md
	meta := md.topic(req.GetName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetName())
	}
	resp := &adminpb.DescribeTopicResponse{
		Name:          meta.name,
		Subscriptions: md.subscriptionNames(meta),
		Delivery:      strategyName(meta.reliable),
	}
	if owner := md.ownerOf(meta); owner != nil {
		resp.BrokerId = owner.id
	}
	if cfg := meta.schema.Load(); cfg.subject != "" {
		resp.SchemaSubject = &cfg.subject
		if sub := md.schemas.subject(cfg.subject); sub != nil && sub.latest() != nil {
			id, version, typ, mode := sub.id, sub.latest().version, sub.latest().schemaType, sub.compatibility
			resp.SchemaId, resp.SchemaVersion, resp.SchemaType, resp.CompatibilityMode = &id, &version, &typ, &mode
		}
	}
	return resp, nil
}

// SetSubscriptionFailurePolicy stores the failure policy of a subscription
// of a reliable topic. The subscription need not exist yet; a running
// subscription keeps its policy until its topic reloads.
func (s *adminService) SetSubscriptionFailurePolicy(ctx context.Context, req *adminpb.SetSubscriptionFailurePolicyRequest) (*adminpb.SubscriptionResponse, error) {
	if req.GetFailurePolicy() == nil {
		return nil, status.Error(codes.InvalidArgument, "failure_policy must be provided")
	}
	md := s.inst.b.md
	meta := md.topic(req.GetTopic())
	if meta == nil || !meta.reliable {
		return nil, status.Errorf(codes.FailedPrecondition, "subscription failure policy can only be configured for reliable topics, and %s is not one", req.GetTopic())
	}
	policy, err := failurePolicyFromProto(req.GetFailurePolicy())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sm := md.subscription(meta, req.GetSubscription(), subTypeUnset, true)
	md.mu.Lock()
	sm.policy = &policy
	md.mu.Unlock()
	return &adminpb.SubscriptionResponse{Success: true}, nil
}

// GetSubscriptionFailurePolicy returns the stored failure policy of a
// subscription, absent when none is stored.
func (s *adminService) GetSubscriptionFailurePolicy(ctx context.Context, req *adminpb.GetSubscriptionFailurePolicyRequest) (*adminpb.GetSubscriptionFailurePolicyResponse, error) {
	md := s.inst.b.md
	resp := &adminpb.GetSubscriptionFailurePolicyResponse{}
	meta := md.topic(req.GetTopic())
	if meta == nil {
		return resp, nil
	}
	sm := md.subscription(meta, req.GetSubscription(), subTypeUnset, false)
	if sm == nil {
		return resp, nil
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	if sm.policy != nil {
		resp.FailurePolicy = sm.policy.proto()
	}
	resp.SubscriptionType = max(sm.subType, 0)
	return resp, nil
}

// SetSubscriptionDispatchConfig stores the window of a subscription, from 1
// to 10000. A running subscription keeps its window until its topic
// reloads.
//
// NOTE: broker v0.15.1 stores this value but its dispatchers never read it;
// here a subscription started after the call uses it.
func (s *adminService) SetSubscriptionDispatchConfig(ctx context.Context, req *adminpb.SetSubscriptionDispatchConfigRequest) (*adminpb.SubscriptionResponse, error) {
	if req.GetDispatchConfig() == nil {
		return nil, status.Error(codes.InvalidArgument, "dispatch_config is required")
	}
	n := req.GetDispatchConfig().GetMaxUnackedMessages()
	if n < 1 || n > maxWindow {
		return nil, status.Errorf(codes.InvalidArgument, "max_unacked_messages must be from 1 to %d, got %d", maxWindow, n)
	}
	md := s.inst.b.md
	meta := md.topic(req.GetTopic())
	if meta == nil {
		return nil, status.Errorf(codes.Internal, "failed to set dispatch config: topic %s not found", req.GetTopic())
	}
	sm := md.subscription(meta, req.GetSubscription(), subTypeUnset, true)
	md.mu.Lock()
	sm.window = int(n)
	md.mu.Unlock()
	return &adminpb.SubscriptionResponse{Success: true}, nil
}

// GetSubscriptionDispatchConfig returns the stored window of a
// subscription, absent when none is stored.
func (s *adminService) GetSubscriptionDispatchConfig(ctx context.Context, req *adminpb.GetSubscriptionDispatchConfigRequest) (*adminpb.GetSubscriptionDispatchConfigResponse, error) {
	md := s.inst.b.md
	resp := &adminpb.GetSubscriptionDispatchConfigResponse{}
	meta := md.topic(req.GetTopic())
	if meta == nil {
		return resp, nil
	}
	sm := md.subscription(meta, req.GetSubscription(), subTypeUnset, false)
	if sm == nil {
		return resp, nil
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	if sm.window > 0 {
		resp.DispatchConfig = &adminpb.SubscriptionDispatchConfig{MaxUnackedMessages: uint32(sm.window)}
	}
	return resp, nil
}

type namespaceAdminService struct {
	adminpb.UnimplementedNamespaceAdminServer
	inst *instance
}

// CreateNamespace creates a namespace; the name has no slash.
func (s *namespaceAdminService) CreateNamespace(ctx context.Context, req *adminpb.NamespaceRequest) (*adminpb.NamespaceResponse, error) {
	name := req.GetName()
	if name == "" || !validTopicName("/"+name+"/x") {
		return nil, status.Errorf(codes.InvalidArgument, "invalid namespace name %q: use letters, digits, '_' and '-'", name)
	}
	if !s.inst.b.md.createNamespace(name) {
		return nil, adminCreateFailed("namespace", name, status.Errorf(codes.AlreadyExists, "namespace %s already exists", name))
	}
	return &adminpb.NamespaceResponse{Success: true}, nil
}

// GetNamespaceTopics lists the topics of a namespace.
func (s *namespaceAdminService) GetNamespaceTopics(ctx context.Context, req *adminpb.NamespaceRequest) (*adminpb.TopicListResponse, error) {
	resp := &adminpb.TopicListResponse{}
	for _, t := range s.inst.b.md.namespaceTopics(req.GetName()) {
		resp.Topics = append(resp.Topics, t.name)
	}
	return resp, nil
}

type brokerAdminService struct {
	adminpb.UnimplementedBrokerAdminServer
	inst *instance
}

// ListNamespaces lists the namespaces.
func (s *brokerAdminService) ListNamespaces(ctx context.Context, _ *adminpb.Empty) (*adminpb.NamespaceListResponse, error) {
	return &adminpb.NamespaceListResponse{Namespaces: s.inst.b.md.namespaceList()}, nil
}

// ListBrokers lists the brokers of the cluster.
func (s *brokerAdminService) ListBrokers(ctx context.Context, _ *adminpb.Empty) (*adminpb.BrokerListResponse, error) {
	md := s.inst.b.md
	md.mu.Lock()
	brokers := append([]*Broker(nil), md.brokers...)
	md.mu.Unlock()
	resp := &adminpb.BrokerListResponse{}
	for i, b := range brokers {
		role := "Cluster_Follower"
		if i == 0 {
			role = "Cluster_Leader"
		}
		state := "active"
		if b.instance() == nil {
			state = "stopped"
		}
		resp.Brokers = append(resp.Brokers, &adminpb.BrokerInfo{
			BrokerId:     b.id,
			BrokerAddr:   b.brokerURL,
			BrokerRole:   role,
			AdminAddr:    b.AdminURL(),
			BrokerStatus: state,
		})
	}
	return resp, nil
}
