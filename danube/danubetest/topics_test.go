package danubetest_test

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
)

func TestTopicNameValidation(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	cases := []struct {
		name  string
		valid bool
	}{
		{"/default/orders", true},
		{"/default/sensors_zone-1", true},
		{"/default/Überweisung2", true},
		{"/a/b/c", false},
		{"/default/my.topic", false},
		{"default/x", false},
		{"/default/with space", false},
		{"orders", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, lookupErr := c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: tc.name})
			_, partErr := c.discovery.TopicPartitions(ctxT(t), &danubepb.TopicLookupRequest{Topic: tc.name})
			_, createErr := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{ProducerName: "p", TopicName: tc.name})
			_, subErr := c.trySubscribe(t, tc.name, "s", "c", shared)
			if tc.valid {
				wantCode(t, lookupErr, codes.NotFound)
				wantCode(t, partErr, codes.OK)
				wantCode(t, createErr, codes.OK)
				wantCode(t, subErr, codes.OK)
				return
			}
			for _, err := range []error{lookupErr, partErr, createErr, subErr} {
				wantCode(t, err, codes.InvalidArgument)
			}
		})
	}
}

func TestMissingNamespaceIsUnavailable(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	_, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{ProducerName: "p", TopicName: "/iot/t"})
	wantCode(t, err, codes.Unavailable)

	if _, err := admin.ns.CreateNamespace(ctxT(t), &adminpb.NamespaceRequest{Name: "iot"}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	c.createProducer(t, "/iot/t", "p", false)
	// The broker's admin port returns NOT_FOUND for every refused creation.
	_, err = admin.ns.CreateNamespace(ctxT(t), &adminpb.NamespaceRequest{Name: "iot"})
	wantCode(t, err, codes.NotFound)
}

func TestWithNamespacesAddsNamespacesAtStart(t *testing.T) {
	b := danubetest.Start(t, danubetest.WithNamespaces("iot"))
	c, admin := clients(t, b)
	c.createProducer(t, "/iot/t", "p", false)
	c.createProducer(t, "/default/t", "p", false)
	resp, err := admin.brokers.ListNamespaces(ctxT(t), &adminpb.Empty{})
	if err != nil || !reflect.DeepEqual(resp.GetNamespaces(), []string{"default", "iot"}) {
		t.Fatalf("namespaces = %v, %v; want [default iot]", resp.GetNamespaces(), err)
	}
}

func TestAutoCreateOffGivesNotFound(t *testing.T) {
	b := danubetest.Start(t, danubetest.WithAutoCreateTopics(false))
	c, _ := clients(t, b)
	_, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{ProducerName: "p", TopicName: "/default/t"})
	wantCode(t, err, codes.NotFound)

	if err := b.CreateTopic("/default/t", false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	c.createProducer(t, "/default/t", "p", false)
}

func TestConsumersNeverCreateTopics(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	_, err := c.trySubscribe(t, "/default/missing", "s", "c", shared)
	wantCode(t, err, codes.NotFound)
	if topics := b.Topics(); len(topics) != 0 {
		t.Fatalf("topics = %v, want none", topics)
	}
}

func TestDispatchStrategyMismatchIsFailedPrecondition(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	c.createProducer(t, "/default/t", "p1", true)
	_, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{
		ProducerName: "p2", TopicName: "/default/t", DispatchStrategy: danubepb.DispatchStrategy_NonReliable,
	})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestSameProducerNameReusesProducerID(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	first := c.createProducer(t, "/default/t", "p", false)
	if again := c.createProducer(t, "/default/t", "p", false); again != first {
		t.Fatalf("same name got id %d, want %d", again, first)
	}
	if other := c.createProducer(t, "/default/t", "q", false); other == first {
		t.Fatalf("another name got the same id %d", other)
	}
}

func TestTopicPartitionsMatchesByPrefix(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	if _, err := admin.topics.CreatePartitionedTopic(ctxT(t), &adminpb.PartitionedTopicRequest{BaseName: "/default/orders", Partitions: 3}); err != nil {
		t.Fatalf("create partitioned topic: %v", err)
	}
	c.createProducer(t, "/default/orders_v2", "p", false)
	c.createProducer(t, "/default/single", "p", false)

	cases := []struct {
		topic string
		want  []string
	}{
		{"/default/orders", []string{"/default/orders-part-0", "/default/orders-part-1", "/default/orders-part-2", "/default/orders_v2"}},
		{"/default/single", []string{"/default/single"}},
		{"/default/orders-part-1", []string{"/default/orders-part-1"}},
		{"/default/nothing", nil},
	}
	for _, tc := range cases {
		resp, err := c.discovery.TopicPartitions(ctxT(t), &danubepb.TopicLookupRequest{RequestId: 7, Topic: tc.topic})
		if err != nil {
			t.Fatalf("partitions of %s: %v", tc.topic, err)
		}
		if !reflect.DeepEqual(resp.GetPartitions(), tc.want) || resp.GetRequestId() != 7 {
			t.Errorf("partitions of %s = %v (request id %d), want %v", tc.topic, resp.GetPartitions(), resp.GetRequestId(), tc.want)
		}
	}
	_, err := c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/orders"})
	wantCode(t, err, codes.NotFound)
}

func TestTopicNamePrefixConflictIsAlreadyExists(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	c.createProducer(t, "/default/orders_v2", "p", false)

	_, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{ProducerName: "p", TopicName: "/default/orders"})
	wantCode(t, err, codes.AlreadyExists)

	c.createProducer(t, "/default/plain", "p", false)
	// The admin port reports the same conflicts as NOT_FOUND, naming the
	// reason in the message only.
	_, err = admin.topics.CreatePartitionedTopic(ctxT(t), &adminpb.PartitionedTopicRequest{BaseName: "/default/plain", Partitions: 2})
	wantCode(t, err, codes.NotFound)
	if !strings.Contains(status.Convert(err).Message(), "exists") {
		t.Errorf("CreatePartitionedTopic over an existing topic: %v, want the reason in the message", err)
	}
	_, err = admin.topics.CreateTopic(ctxT(t), &adminpb.NewTopicRequest{Name: "/default/plain"})
	wantCode(t, err, codes.NotFound)
}

func TestPartitionNameFormat(t *testing.T) {
	if got := danubetest.PartitionName("/default/t", 4); got != "/default/t-part-4" {
		t.Fatalf("PartitionName = %q, want /default/t-part-4", got)
	}
}

func TestMaxMessageSizeRejectsLargerPayloads(t *testing.T) {
	b := danubetest.Start(t, danubetest.WithMaxMessageSize(8))
	c, _ := clients(t, b)
	pid := c.createProducer(t, "/default/t", "p", false)
	c.send(t, pid, "/default/t", "12345678")
	_, err := c.producer.SendMessage(ctxT(t), message(pid, "/default/t", "123456789"))
	wantCode(t, err, codes.InvalidArgument)
}

func TestRequestOverFourMiBFailsOutOfRange(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	pid := c.createProducer(t, "/default/t", "p", true)

	m := message(pid, "/default/t", "")
	m.Payload = make([]byte, 4<<20) // the envelope takes the request over 4 MiB
	_, err := c.producer.SendMessage(ctxT(t), m)
	wantCode(t, err, codes.OutOfRange)

	m.Payload = make([]byte, 4<<20-1024)
	if _, err := c.producer.SendMessage(ctxT(t), m); err != nil {
		t.Fatalf("send of %d bytes: %v", len(m.Payload), err)
	}
	if got := len(b.Messages("/default/t")); got != 1 {
		t.Fatalf("broker stored %d messages, want 1", got)
	}
}

func TestLookupAnswersConnectWithHTTPURLs(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	c.createProducer(t, "/default/t", "p", false)
	resp, err := c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{RequestId: 9, Topic: "/default/t"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if resp.GetResponseType() != danubepb.TopicLookupResponse_Connect || resp.GetBrokerUrl() != b.URL() ||
		resp.GetConnectUrl() != b.URL() || resp.GetProxy() || resp.GetRequestId() != 9 {
		t.Fatalf("lookup = %v, want Connect to %s without proxy", resp, b.URL())
	}
}

func TestConnectURLTurnsProxyOn(t *testing.T) {
	b := danubetest.Start(t, danubetest.WithConnectURL("127.0.0.1:1"))
	c, _ := clients(t, b)
	c.createProducer(t, "/default/t", "p", false)
	resp, err := c.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if resp.GetConnectUrl() != "http://127.0.0.1:1" || resp.GetBrokerUrl() != b.URL() || !resp.GetProxy() {
		t.Fatalf("lookup = %v, want connect http://127.0.0.1:1, broker %s, proxy", resp, b.URL())
	}

	// The broker ignores the proxy routing header.
	ctx := metadata.AppendToOutgoingContext(ctxT(t), "x-danube-broker-url", resp.GetBrokerUrl())
	if _, err := c.discovery.TopicLookup(ctx, &danubepb.TopicLookupRequest{Topic: "/default/t"}); err != nil {
		t.Fatalf("lookup with routing header: %v", err)
	}
}

func TestClusterLookupRedirectsToOwner(t *testing.T) {
	brokers := danubetest.StartCluster(t, 2)
	a, b := brokers[0], brokers[1]
	ca, _ := clients(t, a)
	cb, _ := clients(t, b)
	cb.createProducer(t, "/default/t", "p", true)

	resp, err := ca.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("lookup on a: %v", err)
	}
	if resp.GetResponseType() != danubepb.TopicLookupResponse_Redirect || resp.GetBrokerUrl() != b.URL() || resp.GetConnectUrl() != b.URL() {
		t.Fatalf("lookup on a = %v, want Redirect to %s", resp, b.URL())
	}
	_, err = ca.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{ProducerName: "p", TopicName: "/default/t", DispatchStrategy: danubepb.DispatchStrategy_Reliable})
	wantCode(t, err, codes.Unavailable)
	_, err = ca.trySubscribe(t, "/default/t", "s", "c", shared)
	wantCode(t, err, codes.Unavailable)
}

func TestMoveTopicKeepsMessagesAndRedirects(t *testing.T) {
	brokers := danubetest.StartCluster(t, 2)
	a, b := brokers[0], brokers[1]
	ca, _ := clients(t, a)
	cb, _ := clients(t, b)
	const topic = "/default/t"
	pid := ca.createProducer(t, topic, "p", true)
	cid := ca.subscribe(t, topic, "sub", "c", exclusive)
	s := ca.receive(t, cid)
	ca.send(t, pid, topic, "a", "b")
	ca.ack(t, s.next(t), "sub")
	s.next(t) // offset 1 stays unacknowledged

	if err := a.MoveTopic(topic, b); err != nil {
		t.Fatalf("move topic: %v", err)
	}
	if got := ca.healthOf(t, danubepb.HealthCheckRequest_Producer, pid); got != danubepb.HealthCheckResponse_CLOSE {
		t.Fatalf("producer health on a = %v, want CLOSE", got)
	}
	_, err := ca.producer.SendMessage(ctxT(t), message(pid, topic, "c"))
	wantCode(t, err, codes.NotFound)
	resp, err := ca.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: topic})
	if err != nil || resp.GetResponseType() != danubepb.TopicLookupResponse_Redirect || resp.GetBrokerUrl() != b.URL() {
		t.Fatalf("lookup on a = %v, %v; want Redirect to b", resp, err)
	}

	cid = cb.subscribe(t, topic, "sub", "c", exclusive)
	s2 := cb.receive(t, cid)
	m := s2.next(t)
	if m.GetMsgId().GetTopicOffset() != 1 || string(m.GetPayload()) != "b" {
		t.Fatalf("b resumed at offset %d (%q), want the unacknowledged offset 1", m.GetMsgId().GetTopicOffset(), m.GetPayload())
	}
}

func TestUnimplementedAdminCallsAnswerUnimplemented(t *testing.T) {
	b := danubetest.Start(t)
	_, admin := clients(t, b)
	_, err := admin.topics.DeleteTopic(ctxT(t), &adminpb.TopicRequest{Name: "/default/t"})
	wantCode(t, err, codes.Unimplemented)
	_, err = adminpb.NewClusterAdminClient(admin.conn).ClusterStatus(ctxT(t), &adminpb.Empty{})
	wantCode(t, err, codes.Unimplemented)
	_, err = adminpb.NewSecurityAdminClient(admin.conn).ListRoles(ctxT(t), &adminpb.Empty{})
	wantCode(t, err, codes.Unimplemented)
}

func TestAdminDescribesTopic(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	c.createProducer(t, "/default/t", "p", true)
	c.subscribe(t, "/default/t", "sub", "c", shared)
	resp, err := admin.topics.DescribeTopic(ctxT(t), &adminpb.DescribeTopicRequest{Name: "/default/t"})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if resp.GetDelivery() != "Reliable" || resp.GetBrokerId() != b.ID() || !reflect.DeepEqual(resp.GetSubscriptions(), []string{"sub"}) {
		t.Fatalf("describe = %v", resp)
	}
	list, err := admin.topics.ListNamespaceTopics(ctxT(t), &adminpb.NamespaceRequest{Name: "default"})
	if err != nil || len(list.GetTopics()) != 1 || list.GetTopics()[0].GetName() != "/default/t" {
		t.Fatalf("list namespace topics = %v, %v", list, err)
	}
}

func TestAdminUnloadTopicMovesItToAnotherBroker(t *testing.T) {
	single := danubetest.Start(t)
	_, admin := clients(t, single)
	if err := single.CreateTopic("/default/t", true); err != nil {
		t.Fatal(err)
	}
	_, err := admin.topics.UnloadTopic(ctxT(t), &adminpb.TopicRequest{Name: "/default/t"})
	wantCode(t, err, codes.FailedPrecondition)

	brokers := danubetest.StartCluster(t, 2)
	ca, adminA := clients(t, brokers[0])
	if err := brokers[0].CreateTopic("/default/t", true); err != nil {
		t.Fatal(err)
	}
	if _, err := adminA.topics.UnloadTopic(ctxT(t), &adminpb.TopicRequest{Name: "/default/t"}); err != nil {
		t.Fatalf("unload in a cluster: %v", err)
	}
	resp, err := ca.discovery.TopicLookup(ctxT(t), &danubepb.TopicLookupRequest{Topic: "/default/t"})
	if err != nil || resp.GetResponseType() != danubepb.TopicLookupResponse_Redirect || resp.GetBrokerUrl() != brokers[1].URL() {
		t.Fatalf("lookup after unload = %v, %v; want Redirect to the other broker", resp, err)
	}
	_, err = adminA.topics.UnloadTopic(ctxT(t), &adminpb.TopicRequest{Name: "/default/none"})
	wantCode(t, err, codes.NotFound)
}
