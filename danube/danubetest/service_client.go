package danubetest

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

type producerService struct {
	danubepb.UnimplementedProducerServiceServer
	inst *instance
}

// CreateProducer attaches a producer, auto-creating a missing topic with the
// requested dispatch strategy when the broker allows it.
func (s *producerService) CreateProducer(ctx context.Context, req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
	name := req.GetTopicName()
	if !validTopicName(name) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(name))
	}
	reliable := req.GetDispatchStrategy() == danubepb.DispatchStrategy_Reliable

	t, err := s.inst.localTopic(name)
	if status.Code(err) == codes.NotFound {
		t, err = s.inst.autoCreate(name, reliable, req.GetSchemaRef())
	}
	if err != nil {
		return nil, err
	}
	if t.meta.reliable != reliable {
		return nil, status.Errorf(codes.FailedPrecondition,
			"producer requested dispatch strategy %s, but topic %s is %s",
			req.GetDispatchStrategy(), name, strategyName(t.meta.reliable))
	}
	if err := s.inst.b.bindProducerSchema(t.meta, req.GetSchemaRef()); err != nil {
		return nil, err
	}

	id, err := t.createProducer(req.GetProducerName())
	if err != nil {
		return nil, err
	}
	return &danubepb.ProducerResponse{
		RequestId:    req.GetRequestId(),
		ProducerId:   id,
		ProducerName: req.GetProducerName(),
	}, nil
}

func strategyName(reliable bool) string {
	if reliable {
		return "Reliable"
	}
	return "NonReliable"
}

// autoCreate creates topic name for a producer, or fails with NOT_FOUND
// when the broker does not auto-create topics.
func (inst *instance) autoCreate(name string, reliable bool, ref *danubepb.SchemaReference) (*topic, error) {
	b := inst.b
	if !b.opts.autoCreate {
		return nil, status.Errorf(codes.NotFound, "topic %s not found and auto-creation of topics is off", name)
	}
	subject := ""
	if ref != nil {
		subject = ref.GetSubject()
		if !b.md.schemas.hasSubject(subject) {
			return nil, status.Errorf(codes.FailedPrecondition, "schema subject %q is not registered", subject)
		}
	}
	if _, err := b.md.createTopic(name, reliable, subject, b); err != nil && b.md.topic(name) == nil {
		return nil, err
	}
	return inst.localTopic(name)
}

// SendMessage publishes one message; the response is the publish
// acknowledgement.
func (s *producerService) SendMessage(ctx context.Context, m *danubepb.StreamMessage) (*danubepb.MessageResponse, error) {
	id := m.GetMsgId()
	if id == nil {
		return nil, status.Error(codes.Internal, "msg_id is missing: every message must carry the producer id and topic name")
	}
	p := s.inst.producer(id.GetProducerId())
	if p == nil {
		return nil, status.Errorf(codes.NotFound, "producer %d does not exist", id.GetProducerId())
	}
	t := p.topic
	if t.name != id.GetTopicName() {
		t = s.inst.loadedTopic(id.GetTopicName())
		if t == nil {
			return nil, status.Errorf(codes.PermissionDenied, "unable to publish the message: topic %s is not served by this broker", id.GetTopicName())
		}
	}
	if limit := s.inst.b.opts.maxMessageSize; limit > 0 && len(m.GetPayload()) > limit {
		return nil, status.Errorf(codes.InvalidArgument, "message of %d bytes exceeds the maximum message size of %d bytes", len(m.GetPayload()), limit)
	}
	if err := t.publish(p, m); err != nil {
		return nil, err
	}
	return &danubepb.MessageResponse{RequestId: m.GetRequestId()}, nil
}

type consumerService struct {
	danubepb.UnimplementedConsumerServiceServer
	inst *instance
}

// Subscribe attaches a consumer; consumers never create topics.
func (s *consumerService) Subscribe(ctx context.Context, req *danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error) {
	name := req.GetTopicName()
	if !validTopicName(name) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(name))
	}
	t, err := s.inst.localTopic(name)
	if err != nil {
		return nil, err
	}
	id, err := t.subscribe(req)
	if err != nil {
		return nil, err
	}
	return &danubepb.ConsumerResponse{
		RequestId:    req.GetRequestId(),
		ConsumerId:   id,
		ConsumerName: req.GetConsumerName(),
	}, nil
}

// ReceiveMessages streams the consumer's messages until the client goes
// away, another stream or a Subscribe takes the consumer over, or the topic
// unloads.
func (s *consumerService) ReceiveMessages(req *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
	c := s.inst.consumer(req.GetConsumerId())
	if c == nil {
		return status.Errorf(codes.NotFound, "consumer %d does not exist", req.GetConsumerId())
	}
	session, ok := c.attach()
	if !ok {
		return status.Errorf(codes.NotFound, "consumer %d does not exist", req.GetConsumerId())
	}
	// Like the real broker, answer with the response headers as soon as
	// the stream is attached, before any message: a client can then tell
	// that the broker holds its stream.
	if err := stream.SendHeader(grpcmd.MD{}); err != nil {
		s.streamGone(c, session)
		return err
	}

	ctx := stream.Context()
	for {
		select {
		case <-session.done:
			return session.err
		case <-s.inst.done:
			return status.Error(codes.Unavailable, "broker is stopping")
		case <-ctx.Done():
			s.streamGone(c, session)
			return ctx.Err()
		case m := <-c.ch:
			if err := stream.Send(m); err != nil {
				s.streamGone(c, session)
				return err
			}
		}
	}
}

// streamGone turns c inactive after its stream failed, unless the broker is
// stopping or a newer session already replaced the stream.
func (s *consumerService) streamGone(c *consumer, session *streamSession) {
	if s.inst.stopping.Load() {
		return
	}
	if c.detach(session) {
		c.sub.streamEnded(c)
	}
}

// subscriptionFor returns the subscription an ack or nack addresses.
func (s *consumerService) subscriptionFor(id *danubepb.MsgID, sub string) (*subscription, error) {
	if id == nil {
		return nil, status.Error(codes.Internal, "msg_id is missing: acknowledge with the delivered msg_id")
	}
	t := s.inst.loadedTopic(id.GetTopicName())
	if t == nil {
		return nil, status.Errorf(codes.Internal, "topic %s not found on this broker", id.GetTopicName())
	}
	sb := t.subscriptionNamed(sub)
	if sb == nil {
		return nil, status.Errorf(codes.Internal, "subscription %q not found on topic %s", sub, id.GetTopicName())
	}
	return sb, nil
}

// Ack settles a delivered message of a reliable topic; on a non-reliable
// topic it does nothing.
func (s *consumerService) Ack(ctx context.Context, req *danubepb.AckRequest) (*danubepb.AckResponse, error) {
	sb, err := s.subscriptionFor(req.GetMsgId(), req.GetSubscriptionName())
	if err != nil {
		return nil, err
	}
	if sb.reliable {
		sb.ack(req.GetMsgId().GetTopicOffset())
	}
	return &danubepb.AckResponse{RequestId: req.GetRequestId()}, nil
}

// Nack schedules a delivered message of a reliable topic for redelivery; on
// a non-reliable topic it does nothing.
func (s *consumerService) Nack(ctx context.Context, req *danubepb.NackRequest) (*danubepb.NackResponse, error) {
	sb, err := s.subscriptionFor(req.GetMsgId(), req.GetSubscriptionName())
	if err != nil {
		return nil, err
	}
	if sb.reliable {
		delay := time.Duration(req.GetDelayMs()) * time.Millisecond
		sb.nack(req.GetMsgId().GetTopicOffset(), delay, req.Reason)
	}
	return &danubepb.NackResponse{RequestId: req.GetRequestId()}, nil
}

type discoveryService struct {
	danubepb.UnimplementedDiscoveryServer
	inst *instance
}

// TopicLookup returns Connect for a topic this broker owns and Redirect to
// the owner otherwise.
func (s *discoveryService) TopicLookup(ctx context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
	name := req.GetTopic()
	if !validTopicName(name) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(name))
	}
	b := s.inst.b
	meta := b.md.topic(name)
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", name)
	}
	owner := b.md.ownerOf(meta)
	if owner == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s is not assigned to a broker", name)
	}
	kind := danubepb.TopicLookupResponse_Redirect
	if owner == b {
		kind = danubepb.TopicLookupResponse_Connect
	}
	return &danubepb.TopicLookupResponse{
		RequestId:    req.GetRequestId(),
		ResponseType: kind,
		BrokerUrl:    owner.brokerURL,
		ConnectUrl:   owner.connectURL,
		Proxy:        owner.brokerURL != owner.connectURL,
	}, nil
}

// TopicPartitions returns the topic itself if it exists, else every topic
// whose name starts with the requested name.
func (s *discoveryService) TopicPartitions(ctx context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error) {
	name := req.GetTopic()
	if !validTopicName(name) {
		return nil, status.Error(codes.InvalidArgument, invalidTopicMessage(name))
	}
	return &danubepb.TopicPartitionsResponse{
		RequestId:  req.GetRequestId(),
		Partitions: s.inst.b.md.partitions(name),
	}, nil
}

type healthService struct {
	danubepb.UnimplementedHealthCheckServer
	inst *instance
}

// HealthCheck returns CLOSE for a producer or consumer that this broker
// does not have or that is inactive.
func (s *healthService) HealthCheck(ctx context.Context, req *danubepb.HealthCheckRequest) (*danubepb.HealthCheckResponse, error) {
	healthy := false
	switch req.GetClient() {
	case danubepb.HealthCheckRequest_Producer:
		p := s.inst.producer(req.GetId())
		healthy = p != nil && p.active.Load()
	case danubepb.HealthCheckRequest_Consumer:
		c := s.inst.consumer(req.GetId())
		healthy = c != nil && c.active.Load()
	default:
		return nil, status.Errorf(codes.InvalidArgument, "invalid client type %d: must be Producer (0) or Consumer (1)", req.GetClient())
	}
	st := danubepb.HealthCheckResponse_CLOSE
	if healthy {
		st = danubepb.HealthCheckResponse_OK
	}
	return &danubepb.HealthCheckResponse{Status: st}, nil
}
