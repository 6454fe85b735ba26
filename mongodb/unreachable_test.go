package mongodb_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// unreachablePassword is the password of unreachableURI, which no error
// or readiness reason may show.
const unreachablePassword = "S3cretPw"

// unreachableURI names a port where no server listens, so that every
// connection attempt is refused at once.
const unreachableURI = "mongodb://alice:" + unreachablePassword + "@127.0.0.1:1/"

// patientURI is unreachableURI with an hour to select a server, instead
// of the driver's 30 s, so that only a cancellation ends an Open early.
const patientURI = unreachableURI + "?serverSelectionTimeoutMS=3600000"

// cancelGuard bounds the wait for a call that a cancellation must end,
// which would otherwise run for an hour.
const cancelGuard = 20 * time.Second

// heartbeatFailed returns a client option that closes the returned
// channel when the driver's first attempt to reach a server fails: from
// then on, Open is waiting in server selection.
func heartbeatFailed() (mongodb.Option, <-chan struct{}) {
	failed := make(chan struct{})
	var once sync.Once
	monitor := &event.ServerMonitor{ServerHeartbeatFailed: func(*event.ServerHeartbeatFailedEvent) {
		once.Do(func() { close(failed) })
	}}
	return mongodb.WithClientOptions(func(o *options.ClientOptions) { o.SetServerMonitor(monitor) }), failed
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(cancelGuard):
		t.Fatalf("timed out waiting until %s", what)
	}
}

func TestOpenReturnsWhenCancelled(t *testing.T) {
	monitor, failed := heartbeatFailed()
	s, err := mongodb.New(mongodb.Config{ConnectionString: patientURI, Database: "app", Collection: "events", Timeout: time.Hour}, monitor)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Open(ctx) }()
	waitClosed(t, "the driver fails to reach 127.0.0.1:1", failed)
	cancel()

	var openErr error
	select {
	case openErr = <-done:
	case <-time.After(cancelGuard):
		t.Fatalf("Open did not return within %v of its cancellation", cancelGuard)
	}
	if !errors.Is(openErr, sink.ErrRetryable) {
		t.Errorf("Open = %v, want a retryable error", openErr)
	}
	if openErr == nil || !strings.Contains(openErr.Error(), "context canceled") {
		t.Errorf("Open = %v, want it to say that its context was cancelled", openErr)
	}
	if openErr != nil && strings.Contains(openErr.Error(), unreachablePassword) {
		t.Errorf("Open = %v, shows the password", openErr)
	}
}

// unreachableTopic is the topic of startUnreachable's runtime.
const unreachableTopic = "/default/events"

// startUnreachable runs a sink runtime whose MongoDB sink has uri,
// timeout and opts, on a broker of its own. It returns the runtime, the
// broker and the function that stops the runtime and returns Run's
// result.
func startUnreachable(t *testing.T, uri string, timeout time.Duration, opts ...mongodb.Option) (*sink.Runtime, *danubetest.Broker, func() error) {
	t.Helper()
	broker := danubetest.Start(t)
	const topic = unreachableTopic
	if err := broker.CreateTopic(topic, true); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	ms, err := mongodb.New(mongodb.Config{ConnectionString: uri, Database: "app", Collection: "events", Timeout: timeout}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sink.DefaultConfig()
	cfg.ServiceURL = broker.URL()
	cfg.ConnectorName = "mongodb-unreachable"
	cfg.DanubeTopic = []string{topic}
	// A stop that waited for the drain's timeout would outlast cancelGuard.
	cfg.DrainTimeout = time.Hour
	rt, err := sink.New(ms, cfg, sink.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			done <- err // for a second call
			return err
		case <-time.After(cancelGuard):
			t.Fatalf("Run did not return within %v of its stop", cancelGuard)
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return rt, broker, stop
}

func TestReadyShowsOpenFailure(t *testing.T) {
	rt, _, stop := startUnreachable(t, unreachableURI, 200*time.Millisecond)

	var reason error
	waitFor(t, "Ready names the failed Open", func() bool {
		reason = rt.Ready(context.Background())
		return reason != nil && strings.Contains(reason.Error(), "mongodb connect to mongodb://xxxxx@127.0.0.1:1/")
	})
	if !strings.Contains(reason.Error(), "connection refused") {
		t.Errorf("Ready = %v, want the driver's cause", reason)
	}
	if strings.Contains(reason.Error(), unreachablePassword) {
		t.Errorf("Ready = %v, shows the password", reason)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestStopEndsOpenInProgress(t *testing.T) {
	monitor, failed := heartbeatFailed()
	rt, broker, stop := startUnreachable(t, patientURI, time.Hour, monitor)
	waitClosed(t, "the driver fails to reach 127.0.0.1:1", failed)
	if err := rt.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "Open is in progress") {
		t.Errorf("Ready = %v, want it to say that Open is in progress", err)
	}
	// A record that the route holds keeps its write stage waiting for the
	// connector to open, which the stop must end as well.
	waitFor(t, "the route subscribes", func() bool { return len(broker.Consumers(unreachableTopic)) > 0 })
	publishTo(t, broker.URL(), unreachableTopic, [][]byte{[]byte(`{"n":1}`)})
	waitFor(t, "the route holds the record", func() bool { return rt.Stats()[0].InFlight == 1 })

	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if st := rt.Stats()[0]; st.Nacked != 1 {
		t.Errorf("stats %+v, want the record nacked", st.Stats)
	}
}
