package danube_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

func TestConformanceAdminNamespaceAndTopics(t *testing.T) {
	e := newEnv(t)
	a := e.admin(t)
	c := e.client(t)
	ns := topicStem(t)

	if err := a.CreateNamespace(testContext(t), ns); err != nil {
		t.Fatalf("CreateNamespace: %v", err)
	}
	reliable := "/" + ns + "/reliable"
	if err := a.CreateTopic(testContext(t), reliable, danube.TopicOptions{Reliable: true}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// The broker's admin port reports every refused creation as NOT_FOUND.
	if err := a.CreateTopic(testContext(t), reliable, danube.TopicOptions{Reliable: true}); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("CreateTopic twice = %v, want ErrNotFound, the broker's answer to a refused creation", err)
	}
	if err := a.CreateNamespace(testContext(t), ns); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("CreateNamespace twice = %v, want ErrNotFound, the broker's answer to a refused creation", err)
	}
	if _, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: reliable}); !errors.Is(err, danube.ErrFailedPrecondition) {
		t.Fatalf("non-reliable producer on an admin-created reliable topic: %v, want ErrFailedPrecondition", err)
	}
	newProducer(t, c, danube.ProducerOptions{Topic: reliable, Reliable: true})

	parted := "/" + ns + "/parted"
	if err := a.CreatePartitionedTopic(testContext(t), parted, 4, danube.TopicOptions{}); err != nil {
		t.Fatalf("CreatePartitionedTopic: %v", err)
	}
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: parted, Subscription: "sub"})
	if got := len(cons.Partitions()); got != 4 {
		t.Fatalf("consumer found %d partitions, want 4", got)
	}

	if err := a.CreateTopic(testContext(t), "/bad.ns/x", danube.TopicOptions{}); !errors.Is(err, danube.ErrInvalidTopic) {
		t.Fatalf("CreateTopic(invalid) = %v, want ErrInvalidTopic", err)
	}
	if err := a.CreateNamespace(testContext(t), "a/b"); !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("CreateNamespace(a/b) = %v, want ErrInvalidArgument", err)
	}
}

func TestConformanceAdminSubscriptionSettings(t *testing.T) {
	e := newEnv(t)
	a := e.admin(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	if _, ok, err := a.GetDispatchConfig(testContext(t), name, "sub"); err != nil || ok {
		t.Fatalf("GetDispatchConfig before any = %v, %v; want none stored", ok, err)
	}
	if err := a.SetDispatchConfig(testContext(t), name, "sub", danube.DispatchConfig{MaxUnackedMessages: 500}); err != nil {
		t.Fatalf("SetDispatchConfig: %v", err)
	}
	cfg, ok, err := a.GetDispatchConfig(testContext(t), name, "sub")
	if err != nil || !ok || cfg.MaxUnackedMessages != 500 {
		t.Fatalf("GetDispatchConfig = %+v, %v, %v; want 500", cfg, ok, err)
	}
	if err := a.SetDispatchConfig(testContext(t), name, "sub", danube.DispatchConfig{MaxUnackedMessages: 20000}); !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("SetDispatchConfig(20000) = %v, want ErrInvalidArgument", err)
	}

	policy := danube.FailurePolicy{
		MaxRedeliveryCount:  3,
		AckTimeout:          5 * time.Second,
		BaseRedeliveryDelay: 100 * time.Millisecond,
		MaxRedeliveryDelay:  2 * time.Second,
		Backoff:             danube.ExponentialBackoff,
		PoisonPolicy:        danube.Drop,
	}
	if err := a.SetFailurePolicy(testContext(t), name, "sub", policy); err != nil {
		t.Fatalf("SetFailurePolicy: %v", err)
	}
	got, ok, err := a.GetFailurePolicy(testContext(t), name, "sub")
	if err != nil || !ok || got != policy {
		t.Fatalf("GetFailurePolicy = %+v, %v, %v; want %+v", got, ok, err, policy)
	}
	if err := a.SetFailurePolicy(testContext(t), name, "sub", danube.FailurePolicy{PoisonPolicy: danube.DeadLetter}); !errors.Is(err, danube.ErrInvalidArgument) {
		t.Fatalf("DeadLetter without a topic = %v, want ErrInvalidArgument", err)
	}

	// The window is applied to the subscription when it starts.
	if b := e.broker; b != nil {
		newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
		st, ok := b.Subscription(name, "sub")
		if !ok || st.Window != 500 {
			t.Fatalf("running subscription window %d, want 500", st.Window)
		}
	}
}

func TestConformanceAdminUnloadTopicRecovers(t *testing.T) {
	// The broker unloads a topic only when another broker can take it.
	e := &env{url: os.Getenv(envURL), adminURL: os.Getenv(envAdminURL)}
	if !realBroker() {
		brokers := danubetest.StartCluster(t, 2)
		e = &env{url: brokers[0].URL(), adminURL: brokers[0].AdminURL(), broker: brokers[0]}
	}
	a := e.admin(t)
	c := e.client(t, danube.WithClock(fastClock(t)))
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})
	p := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true})
	send(t, p, "before")
	ack(t, cons, receive(t, cons))

	err := a.UnloadTopic(testContext(t), name)
	if realBroker() && (errors.Is(err, danube.ErrFailedPrecondition) || status.Code(err) == codes.Unimplemented) {
		t.Skipf("the broker at %s cannot unload (a single-broker cluster, or a standalone broker): %v", e.url, err)
	}
	if err != nil {
		t.Fatalf("UnloadTopic: %v", err)
	}
	send(t, p, "after")
	m := receive(t, cons)
	if string(m.Payload) != "after" {
		t.Fatalf("after the unload got %q", m.Payload)
	}
	ack(t, cons, m)
}

func TestConformanceAdminAfterCloseFailsWithErrClosed(t *testing.T) {
	e := newEnv(t)
	a := e.admin(t)
	name := topic(t)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if err := a.CreateTopic(testContext(t), name, danube.TopicOptions{}); !errors.Is(err, danube.ErrClosed) {
		t.Errorf("CreateTopic after Close = %v, want ErrClosed", err)
	}
	if _, _, err := a.GetFailurePolicy(testContext(t), name, "sub"); !errors.Is(err, danube.ErrClosed) {
		t.Errorf("GetFailurePolicy after Close = %v, want ErrClosed", err)
	}
	if _, _, err := a.GetDispatchConfig(testContext(t), name, "sub"); !errors.Is(err, danube.ErrClosed) {
		t.Errorf("GetDispatchConfig after Close = %v, want ErrClosed", err)
	}
}

func TestConformanceAdminRejectsNegativePolicyDurations(t *testing.T) {
	e := newEnv(t)
	a := e.admin(t)
	c := e.client(t)
	name := topic(t)
	createTopic(t, c, name, true, 0)

	for field, policy := range map[string]danube.FailurePolicy{
		"AckTimeout":          {AckTimeout: -time.Second, PoisonPolicy: danube.Drop},
		"BaseRedeliveryDelay": {BaseRedeliveryDelay: -time.Millisecond, PoisonPolicy: danube.Drop},
		"MaxRedeliveryDelay":  {MaxRedeliveryDelay: -time.Minute, PoisonPolicy: danube.Drop},
	} {
		err := a.SetFailurePolicy(testContext(t), name, "sub", policy)
		if !errors.Is(err, danube.ErrInvalidArgument) || !strings.Contains(err.Error(), field) {
			t.Errorf("SetFailurePolicy with a negative %s = %v, want ErrInvalidArgument naming it", field, err)
		}
	}
	if _, ok, err := a.GetFailurePolicy(testContext(t), name, "sub"); err != nil || ok {
		t.Errorf("GetFailurePolicy after the refused calls = %v, %v; want none stored", ok, err)
	}
}
