package danubetest

import (
	"log/slog"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// DefaultWindow is the number of unacknowledged messages a reliable
// subscription may have in flight, the broker's dispatch.max_unacked_messages
// default.
const DefaultWindow = 10

// maxWindow is the largest window the broker accepts, from the admin API and
// the broker configuration alike.
const maxWindow = 10000

// Option configures a Broker created by New, Start or StartCluster.
type Option func(*options)

type options struct {
	window         int
	clock          clock.Clock
	jwtSecret      []byte
	autoCreate     bool
	namespaces     []string
	maxMessageSize int
	connectURL     string
	logger         *slog.Logger
	addr           string // client listen address, empty for a free port
	adminAddr      string // admin listen address, empty for a free port
}

func defaultOptions() options {
	return options{
		window:     DefaultWindow,
		autoCreate: true,
		namespaces: []string{"default"},
	}
}

// WithWindow sets the default in-flight window of reliable subscriptions,
// from 1 to 10000. The admin call SetSubscriptionDispatchConfig overrides it
// for one subscription. The default is DefaultWindow (10).
func WithWindow(n int) Option {
	return func(o *options) { o.window = n }
}

// WithClock makes every timer of the broker (ack timeouts, the 500 ms
// dispatch heartbeat, nack delays, cursor persistence, idle subscription
// reaping, token expiry) run on c. Tests pass a *clock.Fake and advance it
// instead of sleeping. The default is the real clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithJWTSecret turns on authentication. Every call must carry the metadata
// "authorization: Bearer <token>" with a token signed with HS256 under
// secret. The token must have the claims iss, exp, sub, principal_type and
// principal_name, and must not be expired. Calls without a valid token fail
// with UNAUTHENTICATED.
// The default is no authentication, as on a broker with auth mode none.
func WithJWTSecret(secret []byte) Option {
	return func(o *options) { o.jwtSecret = append([]byte(nil), secret...) }
}

// WithAutoCreateTopics sets whether CreateProducer creates a missing topic
// (true, the default) or fails with NOT_FOUND.
func WithAutoCreateTopics(on bool) Option {
	return func(o *options) { o.autoCreate = on }
}

// WithNamespaces sets the namespaces that exist when the broker starts, in
// addition to "default". Other namespaces come from the admin call
// CreateNamespace.
func WithNamespaces(names ...string) Option {
	return func(o *options) { o.namespaces = append(o.namespaces, names...) }
}

// WithMaxMessageSize limits payloads to n bytes; a larger SendMessage fails
// with INVALID_ARGUMENT. Zero, the default, means unlimited, as on a
// standalone broker.
func WithMaxMessageSize(n int) Option {
	return func(o *options) { o.maxMessageSize = n }
}

// WithConnectURL makes the broker advertise url as the address clients dial
// (connect_url) while its broker_url stays its own address, so lookups
// return proxy=true. A URL without a scheme gets "http://".
func WithConnectURL(url string) Option {
	return func(o *options) { o.connectURL = url }
}

// WithLogger sets the logger for start, stop and fault events. The default
// discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithAddr makes the broker serve the client protocol on addr, a host:port
// such as "127.0.0.1:6650", the real broker's client port. Port 0 picks a
// free port. The default is a free port of 127.0.0.1. New fails when addr
// cannot be listened on, and NewCluster rejects it for more than one broker,
// which cannot share an address.
func WithAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// WithAdminAddr makes the broker serve the admin protocol on addr, a
// host:port such as "127.0.0.1:50051", the real broker's admin port. It
// follows the rules of WithAddr.
func WithAdminAddr(addr string) Option {
	return func(o *options) { o.adminAddr = addr }
}
