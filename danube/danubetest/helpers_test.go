package danubetest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of a test in real time; broker timers run
// on the fake clock where a test needs them.
const waitTimeout = 5 * time.Second

// client bundles the generated stubs of one connection.
type client struct {
	conn      *grpc.ClientConn
	producer  danubepb.ProducerServiceClient
	consumer  danubepb.ConsumerServiceClient
	discovery danubepb.DiscoveryClient
	health    danubepb.HealthCheckClient
	schema    schemapb.SchemaRegistryClient
	topics    adminpb.TopicAdminClient
	ns        adminpb.NamespaceAdminClient
	brokers   adminpb.BrokerAdminClient
}

func dial(t testing.TB, addr string, opts ...grpc.DialOption) *client {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{
		conn:      conn,
		producer:  danubepb.NewProducerServiceClient(conn),
		consumer:  danubepb.NewConsumerServiceClient(conn),
		discovery: danubepb.NewDiscoveryClient(conn),
		health:    danubepb.NewHealthCheckClient(conn),
		schema:    schemapb.NewSchemaRegistryClient(conn),
		topics:    adminpb.NewTopicAdminClient(conn),
		ns:        adminpb.NewNamespaceAdminClient(conn),
		brokers:   adminpb.NewBrokerAdminClient(conn),
	}
}

// clients returns a client of b's client port and one of its admin port.
func clients(t testing.TB, b *danubetest.Broker) (*client, *client) {
	return dial(t, b.Addr()), dial(t, b.AdminAddr())
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func strategy(reliable bool) danubepb.DispatchStrategy {
	if reliable {
		return danubepb.DispatchStrategy_Reliable
	}
	return danubepb.DispatchStrategy_NonReliable
}

func (c *client) createProducer(t testing.TB, topic, name string, reliable bool) uint64 {
	t.Helper()
	resp, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{
		RequestId:        1,
		ProducerName:     name,
		TopicName:        topic,
		DispatchStrategy: strategy(reliable),
	})
	if err != nil {
		t.Fatalf("create producer %s on %s: %v", name, topic, err)
	}
	return resp.GetProducerId()
}

func message(producerID uint64, topic, payload string) *danubepb.StreamMessage {
	return &danubepb.StreamMessage{
		RequestId:    1,
		MsgId:        &danubepb.MsgID{ProducerId: producerID, TopicName: topic},
		Payload:      []byte(payload),
		PublishTime:  uint64(time.Now().UnixMilli()),
		ProducerName: "p",
	}
}

func (c *client) send(t testing.TB, producerID uint64, topic string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := c.producer.SendMessage(ctxT(t), message(producerID, topic, p)); err != nil {
			t.Fatalf("send %q to %s: %v", p, topic, err)
		}
	}
}

func (c *client) subscribe(t testing.TB, topic, sub, name string, typ danubepb.ConsumerRequest_SubscriptionType) uint64 {
	t.Helper()
	id, err := c.trySubscribe(t, topic, sub, name, typ)
	if err != nil {
		t.Fatalf("subscribe %s to %s/%s: %v", name, topic, sub, err)
	}
	return id
}

func (c *client) trySubscribe(t testing.TB, topic, sub, name string, typ danubepb.ConsumerRequest_SubscriptionType, filters ...string) (uint64, error) {
	resp, err := c.consumer.Subscribe(ctxT(t), &danubepb.ConsumerRequest{
		RequestId:        1,
		TopicName:        topic,
		ConsumerName:     name,
		Subscription:     sub,
		SubscriptionType: typ,
		KeyFilters:       filters,
	})
	return resp.GetConsumerId(), err
}

// stream is an open ReceiveMessages stream whose messages a goroutine
// forwards to a channel, so that tests can wait with a timeout.
type stream struct {
	cancel context.CancelFunc
	msgs   chan *danubepb.StreamMessage
	done   chan error
}

func (c *client) receive(t testing.TB, consumerID uint64) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := c.consumer.ReceiveMessages(ctx, &danubepb.ReceiveRequest{RequestId: 1, ConsumerId: consumerID})
	if err != nil {
		cancel()
		t.Fatalf("receive for consumer %d: %v", consumerID, err)
	}
	s := &stream{cancel: cancel, msgs: make(chan *danubepb.StreamMessage, 100000), done: make(chan error, 1)}
	go func() {
		for {
			m, err := rs.Recv()
			if err != nil {
				s.done <- err
				close(s.msgs)
				return
			}
			s.msgs <- m
		}
	}()
	t.Cleanup(s.close)
	return s
}

// close cancels the stream and waits for its goroutine.
func (s *stream) close() {
	s.cancel()
	for range s.msgs {
	}
}

func (s *stream) next(t testing.TB) *danubepb.StreamMessage {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatalf("stream ended while a message was expected")
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message within %v", waitTimeout)
	}
	return nil
}

// expectNone fails if a message arrives within d of real time.
func (s *stream) expectNone(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if ok {
			t.Fatalf("unexpected message %q at offset %d", m.GetPayload(), m.GetMsgId().GetTopicOffset())
		}
	case <-time.After(d):
	}
}

func (c *client) ack(t testing.TB, m *danubepb.StreamMessage, sub string) {
	t.Helper()
	if _, err := c.consumer.Ack(ctxT(t), &danubepb.AckRequest{RequestId: m.GetRequestId(), MsgId: m.GetMsgId(), SubscriptionName: sub}); err != nil {
		t.Fatalf("ack offset %d: %v", m.GetMsgId().GetTopicOffset(), err)
	}
}

func (c *client) nack(t testing.TB, m *danubepb.StreamMessage, sub string, delay *uint64, reason *string) {
	t.Helper()
	if _, err := c.consumer.Nack(ctxT(t), &danubepb.NackRequest{
		RequestId: m.GetRequestId(), MsgId: m.GetMsgId(), SubscriptionName: sub, DelayMs: delay, Reason: reason,
	}); err != nil {
		t.Fatalf("nack offset %d: %v", m.GetMsgId().GetTopicOffset(), err)
	}
}

func (c *client) healthOf(t testing.TB, kind danubepb.HealthCheckRequest_ClientType, id uint64) danubepb.HealthCheckResponse_ClientStatus {
	t.Helper()
	resp, err := c.health.HealthCheck(ctxT(t), &danubepb.HealthCheckRequest{RequestId: 1, Client: kind, Id: id})
	if err != nil {
		t.Fatalf("health check of %v %d: %v", kind, id, err)
	}
	return resp.GetStatus()
}

func wantCode(t testing.TB, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got status %v (%v), want %v", got, err, want)
	}
}

// eventually polls cond in real time until it holds or waitTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func u64(v uint64) *uint64 { return &v }
func str(s string) *string { return &s }

const (
	exclusive = danubepb.ConsumerRequest_Exclusive
	shared    = danubepb.ConsumerRequest_Shared
	failover  = danubepb.ConsumerRequest_Failover
	keyShared = danubepb.ConsumerRequest_KeyShared
)
