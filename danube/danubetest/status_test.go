package danubetest_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

func TestHealthCheckClosesUnknownIDs(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	for _, kind := range []danubepb.HealthCheckRequest_ClientType{danubepb.HealthCheckRequest_Producer, danubepb.HealthCheckRequest_Consumer} {
		if got := c.healthOf(t, kind, 42); got != danubepb.HealthCheckResponse_CLOSE {
			t.Errorf("%v 42 health = %v, want CLOSE", kind, got)
		}
	}
	_, err := c.health.HealthCheck(ctxT(t), &danubepb.HealthCheckRequest{Client: 7, Id: 1})
	wantCode(t, err, codes.InvalidArgument)
}

func TestHealthCheckClosesConsumerWhoseStreamDropped(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", shared)
	if got := f.c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid); got != danubepb.HealthCheckResponse_OK {
		t.Fatalf("health after subscribe = %v, want OK", got)
	}
	s := f.c.receive(t, cid)
	f.c.send(t, f.pid, f.topic, "a")
	s.next(t)
	s.close()
	eventually(t, "health CLOSE", func() bool {
		return f.c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid) == danubepb.HealthCheckResponse_CLOSE
	})
	f.c.subscribe(t, f.topic, "sub", "c", shared)
	if got := f.c.healthOf(t, danubepb.HealthCheckRequest_Consumer, cid); got != danubepb.HealthCheckResponse_OK {
		t.Fatalf("health after resubscribe = %v, want OK", got)
	}
}

func TestUnknownIDsAndRoutesGiveProtocolCodes(t *testing.T) {
	f := newFixture(t)
	cid := f.c.subscribe(t, f.topic, "sub", "c", shared)

	_, err := f.c.producer.SendMessage(ctxT(t), message(12345, f.topic, "x"))
	wantCode(t, err, codes.NotFound)

	rs, err := f.c.consumer.ReceiveMessages(ctxT(t), &danubepb.ReceiveRequest{ConsumerId: cid + 1})
	if err == nil {
		_, err = rs.Recv()
	}
	wantCode(t, err, codes.NotFound)

	msgID := &danubepb.MsgID{TopicName: f.topic, TopicOffset: 0}
	_, err = f.c.consumer.Ack(ctxT(t), &danubepb.AckRequest{MsgId: msgID, SubscriptionName: "other"})
	wantCode(t, err, codes.Internal)
	_, err = f.c.consumer.Nack(ctxT(t), &danubepb.NackRequest{MsgId: &danubepb.MsgID{TopicName: "/default/nowhere"}, SubscriptionName: "sub"})
	wantCode(t, err, codes.Internal)
	if _, err := f.c.consumer.Ack(ctxT(t), &danubepb.AckRequest{MsgId: &danubepb.MsgID{TopicName: f.topic, TopicOffset: 99}, SubscriptionName: "sub"}); err != nil {
		t.Fatalf("late ack: %v, want OK", err)
	}
}

func TestResponsesEchoRequestID(t *testing.T) {
	f := newFixture(t)
	resp, err := f.c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{RequestId: 11, ProducerName: "x", TopicName: f.topic, DispatchStrategy: danubepb.DispatchStrategy_Reliable})
	if err != nil || resp.GetRequestId() != 11 || resp.GetProducerName() != "x" {
		t.Fatalf("create producer = %v, %v", resp, err)
	}
	m := message(f.pid, f.topic, "a")
	m.RequestId = 12
	sent, err := f.c.producer.SendMessage(ctxT(t), m)
	if err != nil || sent.GetRequestId() != 12 {
		t.Fatalf("send = %v, %v", sent, err)
	}
	sub, err := f.c.consumer.Subscribe(ctxT(t), &danubepb.ConsumerRequest{RequestId: 13, TopicName: f.topic, ConsumerName: "c", Subscription: "s"})
	if err != nil || sub.GetRequestId() != 13 || sub.GetConsumerName() != "c" {
		t.Fatalf("subscribe = %v, %v", sub, err)
	}
}

func TestJWTAuthentication(t *testing.T) {
	secret := []byte("test-secret")
	b := danubetest.Start(t, danubetest.WithJWTSecret(secret))
	c, admin := clients(t, b)
	exp := time.Now().Add(time.Hour)

	call := func(header string) error {
		ctx := ctxT(t)
		if header != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", header)
		}
		_, err := c.discovery.TopicPartitions(ctx, &danubepb.TopicLookupRequest{Topic: "/default/t"})
		return err
	}
	claims := map[string]any{"iss": "x", "exp": exp.Unix(), "sub": "s", "principal_type": "user", "principal_name": "s"}
	withoutExp := map[string]any{"iss": "x", "sub": "s", "principal_type": "user", "principal_name": "s"}
	cases := []struct {
		name   string
		header string
		want   codes.Code
	}{
		{"missing", "", codes.Unauthenticated},
		{"valid", "Bearer " + danubetest.Token(secret, "svc", exp), codes.OK},
		{"lower-case bearer", "bearer " + danubetest.Token(secret, "svc", exp), codes.OK},
		{"valid by hand", "Bearer " + signForTest(secret, claims), codes.OK},
		{"wrong secret", "Bearer " + danubetest.Token([]byte("other"), "svc", exp), codes.Unauthenticated},
		{"expired", "Bearer " + danubetest.Token(secret, "svc", time.Now().Add(-2*time.Minute)), codes.Unauthenticated},
		{"no exp", "Bearer " + signForTest(secret, withoutExp), codes.Unauthenticated},
		{"not bearer", "Basic abc", codes.Unauthenticated},
		{"garbage", "Bearer a.b.c", codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, call(tc.header), tc.want)
		})
	}
	_, err := admin.brokers.ListNamespaces(ctxT(t), &adminpb.Empty{})
	wantCode(t, err, codes.Unauthenticated)
}

var signForTest = danubetest.SignForTest
