package danubetest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Broker is an in-process Danube broker serving the client protocol on one
// port of 127.0.0.1 and the admin protocol on another, or on the addresses
// that WithAddr and WithAdminAddr set. Create one with New,
// Start, NewCluster or StartCluster; the zero value is not usable. Its
// methods are safe for concurrent use.
type Broker struct {
	opts   options
	clk    clock.Clock
	log    *slog.Logger
	id     string
	md     *metadata
	faults *faults
	auth   *authenticator

	replicator replicator

	clientAddr string // host:port, fixed at the first start
	adminAddr  string
	brokerURL  string
	connectURL string

	mu     sync.Mutex
	inst   *instance // nil while stopped
	closed bool
}

// ErrClosed is returned by Restart after Close.
var ErrClosed = errors.New("danubetest: broker closed")

// New starts a broker on free ports of 127.0.0.1, or on the addresses that
// WithAddr and WithAdminAddr set, and returns it once it accepts calls. The caller must call Close. Programs use New; tests use
// Start, which closes the broker when the test ends.
func New(opts ...Option) (*Broker, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	b, err := newBroker(o, nil)
	if err != nil {
		return nil, err
	}
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

// Start is New for tests: it fails t if the broker cannot start and closes
// the broker when t ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	b, err := New(opts...)
	if err != nil {
		t.Fatalf("start danube test broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func newBroker(o options, md *metadata) (*Broker, error) {
	if o.window < 1 || o.window > maxWindow {
		return nil, fmt.Errorf("invalid window %d: must be from 1 to %d", o.window, maxWindow)
	}
	if o.maxMessageSize < 0 {
		return nil, fmt.Errorf("invalid max message size %d: must not be negative", o.maxMessageSize)
	}
	if err := checkListenAddr("WithAddr", o.addr); err != nil {
		return nil, err
	}
	if err := checkListenAddr("WithAdminAddr", o.adminAddr); err != nil {
		return nil, err
	}
	if md == nil {
		md = newMetadata(o.namespaces)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b := &Broker{
		opts:   o,
		clk:    clock.OrReal(o.clock),
		id:     strconv.FormatUint(rand.Uint64(), 10),
		md:     md,
		faults: newFaults(),
	}
	b.log = logger.With("broker_id", b.id)
	b.auth = newAuthenticator(o.jwtSecret, b.clk)

	md.mu.Lock()
	md.brokers = append(md.brokers, b)
	md.mu.Unlock()
	return b, nil
}

// start binds the listeners, on the ports of the first start if there was
// one, and serves.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.inst != nil {
		return nil
	}

	clientAddr, adminAddr := b.clientAddr, b.adminAddr
	if clientAddr == "" {
		clientAddr, adminAddr = listenAddr(b.opts.addr), listenAddr(b.opts.adminAddr)
	}
	clientLis, err := net.Listen("tcp", clientAddr)
	if err != nil {
		return fmt.Errorf("listen for clients on %s: %w", clientAddr, err)
	}
	adminLis, err := net.Listen("tcp", adminAddr)
	if err != nil {
		clientLis.Close()
		return fmt.Errorf("listen for admin calls on %s: %w", adminAddr, err)
	}

	if b.clientAddr == "" {
		b.clientAddr = clientLis.Addr().String()
		b.adminAddr = adminLis.Addr().String()
		b.brokerURL = "http://" + b.clientAddr
		b.connectURL = b.brokerURL
		if b.opts.connectURL != "" {
			b.connectURL = withScheme(b.opts.connectURL)
		}
	}

	b.inst = newInstance(b, clientLis, adminLis)
	b.log.Info("danube test broker started", "url", b.brokerURL, "admin_url", b.AdminURL())
	return nil
}

// checkListenAddr rejects an address option that is not host:port, or
// whose host is missing or unspecified (0.0.0.0, ::). The broker advertises
// its own address to clients in topic lookups, so the host must be one they
// can dial.
func checkListenAddr(option, addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid %s address %q: %v; use host:port, such as 127.0.0.1:6650", option, addr, err)
	}
	ipPart, _, _ := strings.Cut(host, "%") // ParseIP does not take an IPv6 zone
	if ip := net.ParseIP(ipPart); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("invalid %s address %q: the broker advertises it to clients, so it needs a host they can dial, such as 127.0.0.1", option, addr)
	}
	return nil
}

// listenAddr returns the address to listen on for an address option:
// addr itself, or a free port of 127.0.0.1 when it is empty.
func listenAddr(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

func withScheme(url string) string {
	if strings.Contains(url, "://") {
		return url
	}
	return "http://" + url
}

// URL returns the client URL, "http://" followed by Addr, such as
// "http://127.0.0.1:<port>". It stays the same across Stop and Restart.
func (b *Broker) URL() string { return b.brokerURL }

// AdminURL returns the admin URL, "http://" followed by AdminAddr.
func (b *Broker) AdminURL() string { return "http://" + b.adminAddr }

// Addr returns the client address without a scheme, such as
// "127.0.0.1:<port>", ready for grpc.NewClient.
func (b *Broker) Addr() string { return b.clientAddr }

// AdminAddr returns the admin address without a scheme.
func (b *Broker) AdminAddr() string { return b.adminAddr }

// ConnectURL returns the URL the broker advertises for clients to dial: the
// URL set with WithConnectURL, else URL.
func (b *Broker) ConnectURL() string { return b.connectURL }

// ID returns the broker id, a decimal number as on the real broker.
func (b *Broker) ID() string { return b.id }

// Stop stops serving like a killed broker: connections drop, and state that
// the broker had not yet persisted is lost, so subscription cursors fall back
// to their last persisted value. Topics, stored messages, subscriptions,
// policies and schemas remain for Restart. Stop on a stopped broker does
// nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	inst := b.inst
	b.inst = nil
	b.mu.Unlock()
	if inst != nil {
		inst.stop()
		b.log.Info("danube test broker stopped")
	}
}

// Restart starts a stopped broker again on the same ports with the state
// that Stop kept. It returns an error if a port was taken in between or the
// broker is closed. Restart on a running broker does nothing.
func (b *Broker) Restart() error {
	return b.start()
}

// Close stops the broker for good and waits until every goroutine it started
// has returned. It may be called more than once.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.Stop()
}

// instance returns the running instance, or nil while stopped.
func (b *Broker) instance() *instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inst
}
