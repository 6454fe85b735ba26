package danube_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// The conformance suite runs every test through the public API against the
// in-process broker of danubetest, or against a real broker when
// DANUBE_URL (client port) and DANUBE_ADMIN_URL (admin port) are set. Tests
// that inject faults run only against danubetest and say so when skipped;
// in strict mode (DANUBE_CONNECT_STRICT=1) the danubetest run skips
// nothing.
const (
	envURL      = "DANUBE_URL"
	envAdminURL = "DANUBE_ADMIN_URL"
	envStrict   = "DANUBE_CONNECT_STRICT"
)

// waitTimeout bounds each test's waits in real time.
const waitTimeout = 20 * time.Second

type env struct {
	url      string
	adminURL string
	broker   *danubetest.Broker // nil against a real broker
}

// newEnv returns the broker of one test: a fresh danubetest broker started
// with opts, or the real broker named by DANUBE_URL (opts are then
// ignored; tests that depend on them call needBroker).
func newEnv(t *testing.T, opts ...danubetest.Option) *env {
	t.Helper()
	if url := os.Getenv(envURL); url != "" {
		return &env{url: url, adminURL: os.Getenv(envAdminURL)}
	}
	b := danubetest.Start(t, opts...)
	return &env{url: b.URL(), adminURL: b.AdminURL(), broker: b}
}

// realBroker reports whether the suite runs against DANUBE_URL.
func realBroker() bool { return os.Getenv(envURL) != "" }

// needBroker returns the danubetest broker for a test that injects faults
// or inspects broker state, and skips the test, with the reason in the
// log, against a real broker.
func (e *env) needBroker(t *testing.T, feature string) *danubetest.Broker {
	t.Helper()
	if e.broker == nil {
		t.Skipf("needs danubetest (%s): a real broker cannot do this, so this test runs only without %s", feature, envURL)
	}
	return e.broker
}

// skipUnlessStrict skips a test for a reason outside the client, except
// in strict mode against danubetest, where every test must run.
func skipUnlessStrict(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(envStrict) == "1" && !realBroker() {
		t.Fatalf("strict mode: %s", reason)
	}
	t.Skip(reason)
}

func (e *env) client(t *testing.T, opts ...danube.Option) *danube.Client {
	t.Helper()
	c, err := danube.NewClient(e.url, opts...)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", e.url, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close client: %v", err)
		}
	})
	return c
}

func (e *env) admin(t *testing.T) *danube.Admin {
	t.Helper()
	if e.adminURL == "" {
		skipUnlessStrict(t, "no admin URL: set "+envAdminURL+" next to "+envURL)
	}
	a, err := danube.NewAdmin(e.adminURL)
	if err != nil {
		t.Fatalf("NewAdmin(%s): %v", e.adminURL, err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// topic returns a topic name unique to the test, in namespace default. The
// random suffix has a fixed length, so no test's topic is a prefix of
// another's.
func topic(t *testing.T) string {
	return "/default/" + topicStem(t)
}

func topicStem(t *testing.T) string {
	var b strings.Builder
	for _, r := range t.Name() {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := b.String()
	if len(name) > 60 {
		name = name[:60]
	}
	return name + "_" + hex.EncodeToString(suffix[:])
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newProducer(t *testing.T, c *danube.Client, opts danube.ProducerOptions) *danube.Producer {
	t.Helper()
	p, err := c.NewProducer(testContext(t), opts)
	if err != nil {
		t.Fatalf("NewProducer(%s): %v", opts.Topic, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newConsumer(t *testing.T, c *danube.Client, opts danube.ConsumerOptions) *danube.Consumer {
	t.Helper()
	cons, err := c.NewConsumer(testContext(t), opts)
	if err != nil {
		t.Fatalf("NewConsumer(%s, %s): %v", opts.Topic, opts.Subscription, err)
	}
	t.Cleanup(func() { _ = cons.Close() })
	return cons
}

// createTopic makes a topic exist before a consumer subscribes (consumers
// do not create topics) by creating a producer of the right strategy.
func createTopic(t *testing.T, c *danube.Client, name string, reliable bool, partitions int) {
	t.Helper()
	p, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: reliable, Partitions: partitions})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	_ = p.Close()
}

func send(t *testing.T, p *danube.Producer, payload string) {
	t.Helper()
	if err := p.Send(testContext(t), danube.Message{Payload: []byte(payload)}); err != nil {
		t.Fatalf("Send(%q): %v", payload, err)
	}
}

// receive returns the next message, failing the test on an error or after
// the wait timeout.
func receive(t *testing.T, c *danube.Consumer) *danube.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return m
}

func ack(t *testing.T, c *danube.Consumer, m *danube.Message) {
	t.Helper()
	if err := c.Ack(testContext(t), m); err != nil {
		t.Fatalf("Ack(%s@%d): %v", m.ID.Topic, m.ID.Offset, err)
	}
}

// eventually polls cond in real time until it holds or the wait timeout
// passes; for effects of the client's or broker's own goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// accelerate advances clk by step every few microseconds of real time
// until the test ends, so that client timers (backoff, health checks) on
// the fake clock fire quickly and in order without the test sleeping on
// them.
func accelerate(t *testing.T, clk *clock.Fake, step time.Duration) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Advance(step)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}
