package danube

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

// fakeBroker is a scriptable gRPC server for the client's unit tests: each
// RPC calls a handler the test sets, and every call is recorded with its
// metadata and whether it had a deadline. It implements only what the
// tests script; the conformance suite runs against a real broker model.
type fakeBroker struct {
	t    *testing.T
	addr string
	srv  *grpc.Server

	mu       sync.Mutex
	calls    []fakeCall
	sent     []*danubepb.StreamMessage // every SendMessage request, in arrival order
	handlers fakeHandlers
}

type fakeCall struct {
	method      string
	md          metadata.MD
	hasDeadline bool
}

type fakeHandlers struct {
	lookup     func(*danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error)
	partitions func(*danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error)
	create     func(*danubepb.ProducerRequest) (*danubepb.ProducerResponse, error)
	send       func(*danubepb.StreamMessage) error
	subscribe  func(*danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error)
	receive    func(*danubepb.ReceiveRequest, grpc.ServerStreamingServer[danubepb.StreamMessage]) error
	ack        func(*danubepb.AckRequest) error
	nack       func(*danubepb.NackRequest) error
	health     func(*danubepb.HealthCheckRequest) (danubepb.HealthCheckResponse_ClientStatus, error)
	getSchema  func(*schemapb.GetSchemaRequest) (*schemapb.GetSchemaResponse, error)
	latest     func(*schemapb.GetLatestSchemaRequest) (*schemapb.GetSchemaResponse, error)
}

// startFakeBroker serves on 127.0.0.1 until the test ends. creds nil means
// plaintext.
func startFakeBroker(t *testing.T, creds credentials.TransportCredentials) *fakeBroker {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{t: t, addr: lis.Addr().String()}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			f.record(ctx, info.FullMethod)
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			f.record(ss.Context(), info.FullMethod)
			return handler(srv, ss)
		}),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	f.srv = grpc.NewServer(opts...)
	danubepb.RegisterDiscoveryServer(f.srv, fakeDiscovery{f: f})
	danubepb.RegisterProducerServiceServer(f.srv, fakeProducer{f: f})
	danubepb.RegisterConsumerServiceServer(f.srv, fakeConsumer{f: f})
	danubepb.RegisterHealthCheckServer(f.srv, fakeHealth{f: f})
	schemapb.RegisterSchemaRegistryServer(f.srv, fakeSchema{f: f})
	adminpb.RegisterTopicAdminServer(f.srv, adminpb.UnimplementedTopicAdminServer{})
	adminpb.RegisterNamespaceAdminServer(f.srv, adminpb.UnimplementedNamespaceAdminServer{})

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = f.srv.Serve(lis)
	}()
	t.Cleanup(func() {
		f.srv.Stop()
		<-served
	})
	return f
}

func (f *fakeBroker) record(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{method: method, md: md.Copy(), hasDeadline: hasDeadline})
	f.mu.Unlock()
}

// set changes the handlers under the lock, so that tests may script the
// broker while the client runs.
func (f *fakeBroker) set(change func(h *fakeHandlers)) {
	f.mu.Lock()
	change(&f.handlers)
	f.mu.Unlock()
}

func (f *fakeBroker) h() fakeHandlers {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handlers
}

// callsTo returns the recorded calls whose method ends in suffix.
func (f *fakeBroker) callsTo(suffix string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if strings.HasSuffix(c.method, suffix) {
			out = append(out, c)
		}
	}
	return out
}

// sentTopicNames returns msg_id.topic_name of every send, in order.
func (f *fakeBroker) sentTopicNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.sent))
	for i, m := range f.sent {
		out[i] = m.GetMsgId().GetTopicName()
	}
	return out
}

// lastSendProducerID returns msg_id.producer_id of the latest send.
func (f *fakeBroker) lastSendProducerID() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return 0
	}
	return f.sent[len(f.sent)-1].GetMsgId().GetProducerId()
}

func (f *fakeBroker) allCalls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "fake broker: %s not scripted", method)
}

type fakeDiscovery struct {
	danubepb.UnimplementedDiscoveryServer
	f *fakeBroker
}

func (s fakeDiscovery) TopicLookup(_ context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
	if h := s.f.h().lookup; h != nil {
		return h(req)
	}
	return &danubepb.TopicLookupResponse{
		RequestId:    req.GetRequestId(),
		ResponseType: danubepb.TopicLookupResponse_Connect,
		ConnectUrl:   "http://" + s.f.addr,
		BrokerUrl:    "http://" + s.f.addr,
	}, nil
}

func (s fakeDiscovery) TopicPartitions(_ context.Context, req *danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error) {
	if h := s.f.h().partitions; h != nil {
		return h(req)
	}
	return &danubepb.TopicPartitionsResponse{RequestId: req.GetRequestId(), Partitions: []string{req.GetTopic()}}, nil
}

type fakeProducer struct {
	danubepb.UnimplementedProducerServiceServer
	f *fakeBroker
}

func (s fakeProducer) CreateProducer(_ context.Context, req *danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
	if h := s.f.h().create; h != nil {
		return h(req)
	}
	return &danubepb.ProducerResponse{RequestId: req.GetRequestId(), ProducerId: 1, ProducerName: req.GetProducerName()}, nil
}

func (s fakeProducer) SendMessage(_ context.Context, req *danubepb.StreamMessage) (*danubepb.MessageResponse, error) {
	s.f.mu.Lock()
	s.f.sent = append(s.f.sent, req)
	s.f.mu.Unlock()
	if h := s.f.h().send; h != nil {
		if err := h(req); err != nil {
			return nil, err
		}
	}
	return &danubepb.MessageResponse{RequestId: req.GetRequestId()}, nil
}

type fakeConsumer struct {
	danubepb.UnimplementedConsumerServiceServer
	f *fakeBroker
}

func (s fakeConsumer) Subscribe(_ context.Context, req *danubepb.ConsumerRequest) (*danubepb.ConsumerResponse, error) {
	if h := s.f.h().subscribe; h != nil {
		return h(req)
	}
	return &danubepb.ConsumerResponse{RequestId: req.GetRequestId(), ConsumerId: 7, ConsumerName: req.GetConsumerName()}, nil
}

func (s fakeConsumer) ReceiveMessages(req *danubepb.ReceiveRequest, stream grpc.ServerStreamingServer[danubepb.StreamMessage]) error {
	if h := s.f.h().receive; h != nil {
		return h(req, stream)
	}
	// The real broker sends the response headers as soon as it has
	// attached the stream.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (s fakeConsumer) Ack(_ context.Context, req *danubepb.AckRequest) (*danubepb.AckResponse, error) {
	if h := s.f.h().ack; h != nil {
		if err := h(req); err != nil {
			return nil, err
		}
	}
	return &danubepb.AckResponse{RequestId: req.GetRequestId()}, nil
}

func (s fakeConsumer) Nack(_ context.Context, req *danubepb.NackRequest) (*danubepb.NackResponse, error) {
	if h := s.f.h().nack; h != nil {
		if err := h(req); err != nil {
			return nil, err
		}
	}
	return &danubepb.NackResponse{RequestId: req.GetRequestId()}, nil
}

type fakeHealth struct {
	danubepb.UnimplementedHealthCheckServer
	f *fakeBroker
}

func (s fakeHealth) HealthCheck(_ context.Context, req *danubepb.HealthCheckRequest) (*danubepb.HealthCheckResponse, error) {
	if h := s.f.h().health; h != nil {
		st, err := h(req)
		if err != nil {
			return nil, err
		}
		return &danubepb.HealthCheckResponse{Status: st}, nil
	}
	return &danubepb.HealthCheckResponse{Status: danubepb.HealthCheckResponse_OK}, nil
}

type fakeSchema struct {
	schemapb.UnimplementedSchemaRegistryServer
	f *fakeBroker
}

func (s fakeSchema) GetSchema(_ context.Context, req *schemapb.GetSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	if h := s.f.h().getSchema; h != nil {
		return h(req)
	}
	return nil, unimplemented("GetSchema")
}

func (s fakeSchema) GetLatestSchema(_ context.Context, req *schemapb.GetLatestSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	if h := s.f.h().latest; h != nil {
		return h(req)
	}
	return nil, unimplemented("GetLatestSchema")
}
