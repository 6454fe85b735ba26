package danube

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// Option configures a Client (NewClient) or an Admin (NewAdmin).
type Option func(*config) error

// TokenSupplier returns the bearer token to send with one call. It is
// called before every call, so that a rotating token is picked up at once;
// it should cache and be fast. An error fails the call with Unauthenticated.
// With a supplier, a consumer that resubscribes after a stream ended
// retries Unauthenticated with backoff, asking the supplier again, where
// with a static token its partition stops.
type TokenSupplier func(ctx context.Context) (string, error)

type config struct {
	tls         *tls.Config // nil means plaintext, unless a token turns TLS on
	insecure    bool
	token       string
	supplier    TokenSupplier
	callTimeout time.Duration
	logger      *slog.Logger
	clock       clock.Clock
	backoff     Backoff
	health      time.Duration
	conns       int
	maxReceive  int
	dialOpts    []grpc.DialOption
}

// DefaultMaxReceiveMessageSize is the largest gRPC message a Client
// accepts from the broker unless WithMaxReceiveMessageSize sets another
// limit: 16 MiB. A delivered message is the payload and attributes as
// published plus an envelope of some tens of bytes (subscription name,
// offset), so gRPC's own default of 4 MiB is smaller than the largest
// message the broker accepts. The broker limits a publish twice. Its gRPC
// server (tonic, with no limit configured, as of v0.15) rejects a request
// over 4 MiB. Its topic policy max_message_size limits the payload: to
// 10 MiB in the broker's default configuration file, and not at all in
// standalone mode. 16 MiB covers a 10 MiB payload with room for its
// attributes and envelope.
const DefaultMaxReceiveMessageSize = 16 << 20

func defaultConfig() config {
	return config{
		callTimeout: 10 * time.Second,
		logger:      slog.New(slog.DiscardHandler),
		clock:       clock.Real(),
		health:      5 * time.Second,
		conns:       1,
		maxReceive:  DefaultMaxReceiveMessageSize,
	}
}

func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	var errs []error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	if cfg.token != "" && cfg.supplier != nil {
		return config{}, errors.New("WithToken and WithTokenSupplier are exclusive: choose one")
	}
	if cfg.hasToken() && cfg.tls == nil && !cfg.insecure {
		// A bearer token is a secret, so it travels only over TLS unless
		// the caller chose WithInsecure. System roots verify the broker.
		cfg.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.insecure {
		cfg.tls = nil
	}
	return cfg, nil
}

func (c *config) hasToken() bool { return c.token != "" || c.supplier != nil }

// WithTLS makes every connection use TLS, verifying the broker with the CA
// certificates in the PEM file caFile, or with the system roots when caFile
// is "". The broker serves TLS when its auth mode is tls.
func WithTLS(caFile string) Option {
	return func(c *config) error {
		cfg, err := tlsConfig(caFile, "", "")
		if err != nil {
			return err
		}
		c.tls = cfg
		return nil
	}
}

// WithMutualTLS is WithTLS plus a client certificate and key (PEM files)
// presented to the broker.
func WithMutualTLS(caFile, certFile, keyFile string) Option {
	return func(c *config) error {
		if certFile == "" || keyFile == "" {
			return errors.New("WithMutualTLS needs both a certificate file and a key file")
		}
		cfg, err := tlsConfig(caFile, certFile, keyFile)
		if err != nil {
			return err
		}
		c.tls = cfg
		return nil
	}
}

// WithTLSConfig makes every connection use TLS with a copy of cfg, for
// settings the file-based options do not cover.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("WithTLSConfig: nil *tls.Config")
		}
		c.tls = cfg.Clone()
		return nil
	}
}

// WithToken sends "authorization: Bearer <token>" with every call. Unless
// TLS is configured or WithInsecure is given, it turns TLS on with the
// system roots. The token never appears in a log line or an error.
func WithToken(token string) Option {
	return func(c *config) error {
		if token == "" {
			return errors.New("WithToken: the token is empty")
		}
		c.token = token
		return nil
	}
}

// WithTokenSupplier is WithToken with a token fetched before every call,
// for tokens that rotate.
func WithTokenSupplier(supplier TokenSupplier) Option {
	return func(c *config) error {
		if supplier == nil {
			return errors.New("WithTokenSupplier: nil supplier")
		}
		c.supplier = supplier
		return nil
	}
}

// WithInsecure forces plaintext connections even when a token is set, for
// a broker behind a trusted local proxy and for tests. The token then
// travels in clear text.
func WithInsecure() Option {
	return func(c *config) error {
		c.insecure = true
		return nil
	}
}

// WithCallTimeout sets the deadline of each unary call (and of each attempt
// when a call is retried), unless the caller's context ends earlier. The
// default is 10 s.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithCallTimeout: the timeout must be positive, got %v", d)
		}
		c.callTimeout = d
		return nil
	}
}

// WithLogger sets the logger for reconnects, recoveries and give-ups. The
// default discards everything. Nothing is logged per message.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// WithClock sets the clock of every timer: backoff waits, health checks,
// publish times. Tests of this module pass a fake clock from its internal
// clock package; the default is the real clock.
func WithClock(clk clock.Clock) Option {
	return func(c *config) error {
		c.clock = clock.OrReal(clk)
		return nil
	}
}

// WithBackoff sets the backoff between retries of failed calls, reconnects
// and recoveries. The zero Backoff means its defaults. Initial and Max
// above MaxBackoff, and a Multiplier or Jitter that is not a finite
// number (or a Multiplier above 100), are refused.
func WithBackoff(b Backoff) Option {
	return func(c *config) error {
		if err := b.validate(); err != nil {
			return fmt.Errorf("WithBackoff: %w", err)
		}
		c.backoff = b
		return nil
	}
}

// WithHealthCheckInterval sets the interval of the health check that each
// producer and consumer sends; the broker replies CLOSE after it unloaded
// or moved the topic. The default is 5 s, as in the broker's own clients.
func WithHealthCheckInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithHealthCheckInterval: the interval must be positive, got %v", d)
		}
		c.health = d
		return nil
	}
}

// WithConnectionsPerBroker opens n HTTP/2 connections to each broker
// address and spreads calls over them, round robin. The default is one.
// More connections may help many sends in flight on a machine with many
// cores; on two cores the benchmarks showed no clear gain.
func WithConnectionsPerBroker(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("WithConnectionsPerBroker: n must be between 1 and 64, got %d", n)
		}
		c.conns = n
		return nil
	}
}

// WithMaxReceiveMessageSize sets the largest gRPC message, in bytes as
// encoded, that the client accepts from the broker. The default is
// DefaultMaxReceiveMessageSize; raise it for a broker that accepts larger
// messages. A message over the limit is never delivered: the partition
// that received it stops, and Receive returns an error matching
// ErrMessageTooLarge that names the limit. The limit bounds the memory
// one received message may take and allocates nothing by itself.
func WithMaxReceiveMessageSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("WithMaxReceiveMessageSize: the limit must be positive, got %d", n)
		}
		c.maxReceive = n
		return nil
	}
}

// WithDialOptions adds gRPC dial options to every connection, for example a
// custom dialer in tests. Options that set transport credentials conflict
// with the TLS options of this package, and a default service config
// replaces the one that sets the call deadlines.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) error {
		c.dialOpts = append(c.dialOpts, opts...)
		return nil
	}
}
