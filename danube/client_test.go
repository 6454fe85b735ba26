package danube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/adminpb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

func newTestClient(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(url, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEveryCallCarriesTokenAndDeadline(t *testing.T) {
	f := startFakeBroker(t, nil)
	c := newTestClient(t, "http://"+f.addr, WithToken("s3cret"), WithInsecure())
	ctx := testContext(t)

	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	_ = p.Close()

	calls := f.allCalls()
	if len(calls) < 3 {
		t.Fatalf("recorded %d calls, want lookup, create and send", len(calls))
	}
	for _, call := range calls {
		if got := call.md.Get(authorizationHeader); len(got) != 1 || got[0] != "Bearer s3cret" {
			t.Errorf("%s: authorization = %q, want one \"Bearer s3cret\"", call.method, got)
		}
		if got := call.md.Get("x-danube-internal-broker"); len(got) != 0 {
			t.Errorf("%s: sent x-danube-internal-broker %q", call.method, got)
		}
		if !call.hasDeadline {
			t.Errorf("%s: unary call without a deadline", call.method)
		}
	}
}

func TestDeadlineOnUnaryCallsNotOnStream(t *testing.T) {
	f := startFakeBroker(t, nil)
	c := newTestClient(t, f.addr, WithCallTimeout(3*time.Second))
	ctx := testContext(t)

	cons, err := c.NewConsumer(ctx, ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(f.callsTo("/ReceiveMessages")) == 1 })
	if err := cons.Ack(ctx, &Message{ID: MessageID{Topic: "/default/t"}, receiver: cons}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	_ = cons.Close()

	for _, m := range []string{"/TopicPartitions", "/TopicLookup", "/Subscribe", "/Ack"} {
		calls := f.callsTo(m)
		if len(calls) == 0 || !calls[0].hasDeadline {
			t.Errorf("%s: %d calls, the first without a deadline", m, len(calls))
		}
	}
	if f.callsTo("/ReceiveMessages")[0].hasDeadline {
		t.Error("the ReceiveMessages stream has a deadline: it would end after the call timeout")
	}
}

func TestAdminCallsCarryTokenAndDeadline(t *testing.T) {
	f := startFakeBroker(t, nil)
	a, err := NewAdmin("http://"+f.addr, WithToken("admin-token"), WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// The fake implements no admin call: the point is what reaches it.
	err = a.UnloadTopic(testContext(t), "/default/t")
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("UnloadTopic = %v, want the fake's Unimplemented", err)
	}
	_ = a.CreateNamespace(testContext(t), "ns")
	for _, m := range []string{"/UnloadTopic", "/CreateNamespace"} {
		calls := f.callsTo(m)
		if len(calls) != 1 {
			t.Fatalf("%s: %d calls, want 1", m, len(calls))
		}
		if !calls[0].hasDeadline {
			t.Errorf("%s without a deadline", m)
		}
		if got := calls[0].md.Get(authorizationHeader); len(got) != 1 || got[0] != "Bearer admin-token" {
			t.Errorf("%s: authorization %q", m, got)
		}
	}
}

func TestServiceConfigCoversEveryUnaryMethod(t *testing.T) {
	// A unary method missing from the service config would run without a
	// deadline; the streaming one must stay out.
	files := []protoreflect.FileDescriptor{
		danubepb.File_DanubeApi_proto, schemapb.File_SchemaRegistry_proto, adminpb.File_DanubeAdmin_proto,
	}
	called := map[string]bool{}
	for _, m := range unaryMethods {
		called[m.service+"/"+m.method] = true
	}
	covered := func(service, method string) bool { return called[service+"/"] || called[service+"/"+method] }

	for _, fd := range files {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				service, method := string(sd.FullName()), string(md.Name())
				if md.IsStreamingServer() || md.IsStreamingClient() {
					if covered(service, method) {
						t.Errorf("streaming %s/%s has a call timeout", service, method)
					}
					continue
				}
				if usedByClient(service) && !covered(service, method) {
					t.Errorf("unary %s/%s has no call timeout", service, method)
				}
			}
		}
	}
}

// usedByClient reports whether this package calls the service.
func usedByClient(service string) bool {
	switch service {
	case "danube.ProducerService", "danube.ConsumerService", "danube.Discovery", "danube.HealthCheck",
		"danube_schema.SchemaRegistry", "danube_admin.NamespaceAdmin", "danube_admin.TopicAdmin":
		return true
	}
	return false
}

func TestTokenSupplierCalledForEachCall(t *testing.T) {
	f := startFakeBroker(t, nil)
	var n atomic.Int32
	supplier := func(context.Context) (string, error) {
		return fmt.Sprintf("tok-%d", n.Add(1)), nil
	}
	c := newTestClient(t, f.addr, WithTokenSupplier(supplier), WithInsecure())
	ctx := testContext(t)

	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer p.Close()
	for range 2 {
		if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	sends := f.callsTo("/SendMessage")
	if len(sends) != 2 {
		t.Fatalf("got %d sends, want 2", len(sends))
	}
	a, b := sends[0].md.Get(authorizationHeader), sends[1].md.Get(authorizationHeader)
	if len(a) != 1 || len(b) != 1 || a[0] == b[0] || !strings.HasPrefix(a[0], "Bearer tok-") {
		t.Fatalf("two sends carried %q and %q, want two distinct rotated tokens", a, b)
	}
}

func TestTokenSupplierErrorFailsCallUnauthenticated(t *testing.T) {
	f := startFakeBroker(t, nil)
	supplier := func(context.Context) (string, error) { return "", errors.New("vault sealed") }
	c := newTestClient(t, f.addr, WithTokenSupplier(supplier), WithInsecure())

	_, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"})
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("NewProducer = %v, want ErrUnauthenticated", err)
	}
	if len(f.allCalls()) != 0 {
		t.Fatal("a call reached the broker without a token")
	}
}

func TestTokenTurnsTLSOnUnlessInsecure(t *testing.T) {
	cfg, err := buildConfig([]Option{WithToken("x")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.tls == nil {
		t.Fatal("a token without TLS options left the connection in plaintext")
	}
	cfg, err = buildConfig([]Option{WithToken("x"), WithInsecure()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.tls != nil {
		t.Fatal("WithInsecure did not force plaintext")
	}
	if _, err := buildConfig([]Option{WithToken("x"), WithTokenSupplier(func(context.Context) (string, error) { return "", nil })}); err == nil {
		t.Fatal("WithToken and WithTokenSupplier together were accepted")
	}
}

func TestOptionErrorsNameTheOption(t *testing.T) {
	tests := []struct {
		opt  Option
		name string
	}{
		{WithToken(""), "WithToken"},
		{WithCallTimeout(0), "WithCallTimeout"},
		{WithHealthCheckInterval(-time.Second), "WithHealthCheckInterval"},
		{WithConnectionsPerBroker(0), "WithConnectionsPerBroker"},
		{WithTLS("/does/not/exist.pem"), "CA"},
		{WithMutualTLS("", "", ""), "WithMutualTLS"},
	}
	for _, tt := range tests {
		_, err := NewClient("127.0.0.1:6650", tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("NewClient with a bad %s option = %v, want an error naming it", tt.name, err)
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("bad %s option: error %v is not ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.create = func(*danubepb.ProducerRequest) (*danubepb.ProducerResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "denied")
		}
	})
	c := newTestClient(t, f.addr, WithToken("top-secret-token"), WithInsecure())
	_, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"})
	if err == nil {
		t.Fatal("NewProducer succeeded against a denying broker")
	}
	if strings.Contains(err.Error(), "top-secret-token") {
		t.Fatalf("error reveals the token: %v", err)
	}
}

func TestTokenNeverLogged(t *testing.T) {
	f := startFakeBroker(t, nil)
	var sends atomic.Int32
	f.set(func(h *fakeHandlers) {
		h.send = func(*danubepb.StreamMessage) error {
			if sends.Add(1) == 1 {
				return status.Error(codes.NotFound, "producer unknown")
			}
			return nil
		}
		h.health = func(*danubepb.HealthCheckRequest) (danubepb.HealthCheckResponse_ClientStatus, error) {
			return 0, status.Error(codes.Unavailable, "health down")
		}
	})
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithToken("very-secret-token"), WithInsecure(), WithLogger(logger), WithClock(clk))
	ctx := testContext(t)

	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "health check failing")
	})
	_ = p.Close()

	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "producer recreated") {
		t.Fatalf("the recovery was not logged; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "very-secret-token") {
		t.Fatalf("a log line contains the token:\n%s", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTLSWithCustomCA(t *testing.T) {
	pki := newTestPKI(t)
	f := startFakeBroker(t, credentials.NewTLS(pki.serverTLS(t, false)))
	c := newTestClient(t, "https://"+f.addr, WithTLS(pki.caFile), WithToken("tok"))

	p, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer over TLS: %v", err)
	}
	_ = p.Close()
	if got := f.callsTo("/CreateProducer"); len(got) != 1 || got[0].md.Get(authorizationHeader)[0] != "Bearer tok" {
		t.Fatalf("create calls over TLS: %+v", got)
	}
}

func TestMutualTLSPresentsClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	f := startFakeBroker(t, credentials.NewTLS(pki.serverTLS(t, true)))
	ctx := testContext(t)

	// The handshake failure is UNAVAILABLE, which NewProducer retries
	// until its context ends.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	without := newTestClient(t, f.addr, WithTLS(pki.caFile))
	if _, err := without.NewProducer(short, ProducerOptions{Topic: "/default/t"}); err == nil {
		t.Fatal("a client without a certificate passed a server that requires one")
	}

	with := newTestClient(t, f.addr, WithMutualTLS(pki.caFile, pki.clientCert, pki.clientKey))
	p, err := with.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer with a client certificate: %v", err)
	}
	_ = p.Close()
}

func TestProxyHeaderOnEveryTopicCall(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.lookup = func(req *danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
			return &danubepb.TopicLookupResponse{
				ResponseType: danubepb.TopicLookupResponse_Redirect,
				ConnectUrl:   "http://" + f.addr, // the proxy, here the service address
				BrokerUrl:    "http://owner:6650",
				Proxy:        true,
			}, nil
		}
	})
	nacks := make(chan *danubepb.NackRequest, 1)
	f.set(func(h *fakeHandlers) {
		h.nack = func(req *danubepb.NackRequest) error {
			nacks <- req
			return nil
		}
	})
	clk := clock.NewFake(time.Time{})
	c := newTestClient(t, f.addr, WithClock(clk))
	ctx := testContext(t)

	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer p.Close()
	if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	cons, err := c.NewConsumer(ctx, ConsumerOptions{Topic: "/default/t", Subscription: "s"})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer cons.Close()
	msg := &Message{ID: MessageID{Topic: "/default/t"}, receiver: cons} // as if received
	if err := cons.Ack(ctx, msg); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := cons.Nack(ctx, msg, time.Second, "later"); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	nack := <-nacks
	if nack.GetDelayMs() != 1000 || nack.GetReason() != "later" || nack.GetSubscriptionName() != "s" || nack.GetMsgId().GetTopicName() != "/default/t" {
		t.Errorf("nack request %v, want delay 1000 ms, reason, subscription and message id", nack)
	}
	waitFor(t, func() bool { return len(f.callsTo("/ReceiveMessages")) > 0 })
	if err := clk.BlockUntil(ctx, 2); err != nil { // the producer's and the consumer's health tickers
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	waitFor(t, func() bool { return len(f.callsTo("/HealthCheck")) >= 2 })

	for _, m := range []string{"/CreateProducer", "/SendMessage", "/HealthCheck", "/Subscribe", "/ReceiveMessages", "/Ack", "/Nack"} {
		calls := f.callsTo(m)
		if len(calls) == 0 {
			t.Fatalf("no %s call", m)
		}
		if got := calls[0].md.Get(proxyHeader); len(got) != 1 || got[0] != "http://owner:6650" {
			t.Errorf("%s: %s = %q, want the owner's broker_url", m, proxyHeader, got)
		}
	}
	if got := f.callsTo("/TopicLookup")[0].md.Get(proxyHeader); len(got) != 0 {
		t.Errorf("lookup carried the proxy header %q", got)
	}
	if n := len(c.pool.conns); n != 1 {
		t.Errorf("the client holds %d connection sets, want 1: connect_url equals the service address", n)
	}
}

func TestLookupRedirectDialsConnectURL(t *testing.T) {
	owner := startFakeBroker(t, nil)
	service := startFakeBroker(t, nil)
	service.set(func(h *fakeHandlers) {
		h.lookup = func(*danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
			return &danubepb.TopicLookupResponse{
				ResponseType: danubepb.TopicLookupResponse_Redirect,
				ConnectUrl:   "http://" + owner.addr,
				BrokerUrl:    "http://" + owner.addr,
			}, nil
		}
	})
	c := newTestClient(t, service.addr)
	ctx := testContext(t)

	p, err := c.NewProducer(ctx, ProducerOptions{Topic: "/default/t"})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	defer p.Close()
	if err := p.Send(ctx, Message{Payload: []byte("x")}); err != nil {
		t.Fatalf("Send: %v", err)
	}

	if n := len(service.callsTo("/CreateProducer")); n != 0 {
		t.Errorf("the service broker got %d creates, want 0", n)
	}
	if n := len(owner.callsTo("/CreateProducer")); n != 1 {
		t.Errorf("the owner got %d creates, want 1", n)
	}
	if n := len(owner.callsTo("/SendMessage")); n != 1 {
		t.Errorf("the owner got %d sends, want 1", n)
	}
	if got := owner.callsTo("/SendMessage")[0].md.Get(proxyHeader); len(got) != 0 {
		t.Errorf("direct connection sent the proxy header %q", got)
	}
}

func TestLookupNotFoundFallsBackToServiceURL(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.lookup = func(*danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
			return nil, status.Error(codes.NotFound, "topic unknown")
		}
	})
	c := newTestClient(t, f.addr)
	p, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/new"})
	if err != nil {
		t.Fatalf("NewProducer on a new topic: %v", err)
	}
	_ = p.Close()
}

func TestLookupErrorIsNotIgnored(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.lookup = func(*danubepb.TopicLookupRequest) (*danubepb.TopicLookupResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "no lookup permission")
		}
	})
	c := newTestClient(t, f.addr)
	_, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"})
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("NewProducer = %v, want the lookup's ErrPermissionDenied", err)
	}
	if n := len(f.callsTo("/CreateProducer")); n != 0 {
		t.Fatalf("create was called %d times after a failed lookup", n)
	}
}

func TestPartitionsIgnoreTopicsSharingThePrefix(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.partitions = func(req *danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error) {
			return &danubepb.TopicPartitionsResponse{Partitions: []string{
				"/default/orders-part-1", "/default/orders_v2", "/default/orders-part-0", "/default/ordersx-part-0",
			}}, nil
		}
	})
	c := newTestClient(t, f.addr)
	got, err := c.partitions(testContext(t), "/default/orders")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "/default/orders-part-0,/default/orders-part-1" {
		t.Fatalf("partitions = %v, want the two partitions of /default/orders in order", got)
	}
}

func TestPartitionsEmptyIsNotFound(t *testing.T) {
	f := startFakeBroker(t, nil)
	f.set(func(h *fakeHandlers) {
		h.partitions = func(*danubepb.TopicLookupRequest) (*danubepb.TopicPartitionsResponse, error) {
			return &danubepb.TopicPartitionsResponse{}, nil
		}
	})
	c := newTestClient(t, f.addr)
	_, err := c.NewConsumer(testContext(t), ConsumerOptions{Topic: "/default/none", Subscription: "s"})
	if !errors.Is(err, ErrNoPartitions) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("NewConsumer = %v, want ErrNoPartitions with code NotFound", err)
	}
}

func TestClosedClientRejectsCalls(t *testing.T) {
	f := startFakeBroker(t, nil)
	c := newTestClient(t, f.addr)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewProducer(testContext(t), ProducerOptions{Topic: "/default/t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewProducer after Close = %v, want ErrClosed", err)
	}
	if _, err := c.NewConsumer(testContext(t), ConsumerOptions{Topic: "/default/t", Subscription: "s"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewConsumer after Close = %v, want ErrClosed", err)
	}
}

// waitFor polls cond until it holds, for effects that happen on the
// client's own goroutines in reply to a fake-clock tick.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
