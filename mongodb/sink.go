package mongodb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Server limits assumed until the server reports its own, the values of
// every MongoDB release since 3.6.
const (
	defaultMaxWriteBatchSize   = 100_000
	defaultMaxMessageSizeBytes = 48_000_000
)

// messageHeadroom is the part of the server's message size limit that a
// bulk request leaves for the command and the wire headers, so that the
// driver sends it as exactly one command.
const messageHeadroom = 1 << 20

// Sink writes Danube messages to MongoDB collections. It implements
// sink.Connector: the runtime calls Open, then Write for each batch, Health
// for readiness and Close at the end. Write and Health are safe for
// concurrent use, with each other and with themselves; Open and Close must
// not run concurrently with any other call.
//
// Create it with New. A Sink holds one MongoDB client, created by Open.
// Open may be called again after Close or after a failure, and creates a
// new client.
type Sink struct {
	cfg     Config
	logger  *slog.Logger
	scrub   scrubber
	clients []func(*options.ClientOptions)

	conn atomic.Pointer[connection]

	// maxChunkDocs, when positive, caps the documents of one bulk request
	// below the server's limit; tests set it to split a batch.
	maxChunkDocs int

	// readBackIDs, when positive, caps the _ids of one read-back query
	// below maxReadBackIDs. Tests set it to split a read-back.
	readBackIDs int
	// readBackFault, when set by a test, runs before each read-back query
	// of a bulk request, with the query's index from 0. An error it returns
	// fails that query without sending it.
	readBackFault func(query int) error

	// writers holds the buffers of Write calls, one *batchWrite per
	// concurrent call, reused from batch to batch.
	writers sync.Pool

	// perDelivery lists the top-level fields that differ between two
	// deliveries of the same payload (the metadata and timestamp fields),
	// which the duplicate check of the insert model leaves out.
	perDelivery []string

	// configured holds the collection names that the Config sets, as
	// opposed to names taken from a record's collection field.
	configured map[string]bool
}

// connection is an open client with what the sink learned from the server.
type connection struct {
	client   *mongo.Client
	db       *mongo.Database
	maxDocs  int
	maxBytes int

	mu          sync.Mutex
	collections map[string]*mongo.Collection
}

// Option configures a Sink beyond its Config.
type Option func(*Sink)

// WithLogger makes the sink log to l: its connection, reconnection and
// close, never a record or a secret. The default discards the log.
func WithLogger(l *slog.Logger) Option {
	return func(s *Sink) { s.logger = l }
}

// WithClientOptions lets f adjust the driver's client options at every
// Open, after the connection string and the Config have been applied: TLS
// settings, pool sizes, monitors. A write concern of w:0 set by f is
// rejected by Open all the same.
func WithClientOptions(f func(*options.ClientOptions)) Option {
	return func(s *Sink) { s.clients = append(s.clients, f) }
}

// New returns a sink for cfg, with defaults applied, or the errors of
// cfg.Validate. It does not connect: Open does.
func New(cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Sink{
		cfg:        cfg,
		logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		scrub:      newScrubber(cfg.ConnectionString),
		configured: map[string]bool{cfg.Collection: true},
	}
	for _, name := range cfg.Collections {
		s.configured[name] = true
	}
	if !cfg.OmitMetadata {
		s.perDelivery = append(s.perDelivery, cfg.MetadataField)
	}
	if cfg.TimestampField != "" {
		s.perDelivery = append(s.perDelivery, cfg.TimestampField)
	}
	s.writers.New = func() any { return &batchWrite{build: newBuilder(cfg)} }
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

var _ sink.Connector = (*Sink)(nil)

// Open connects to MongoDB and runs the hello command, which proves the
// server reachable and the credentials good, and reads the server's batch
// limits. It closes the client of an earlier Open first. An error for a
// bad connection string, a w:0 write concern or failed authentication is
// fatal, and any other is retryable. No error shows the connection
// string's credentials.
func (s *Sink) Open(ctx context.Context) error {
	if old := s.conn.Swap(nil); old != nil {
		if err := old.client.Disconnect(ctx); err != nil {
			s.logger.Warn("mongodb sink: disconnect the previous client", "error", s.scrub.scrub(err))
		}
	}

	opts := options.Client().ApplyURI(s.cfg.ConnectionString).SetTimeout(s.cfg.Timeout)
	if s.cfg.WriteConcern != "" {
		opts.SetWriteConcern(parseWriteConcern(s.cfg.WriteConcern))
	}
	for _, f := range s.clients {
		f(opts)
	}
	if err := opts.Validate(); err != nil {
		return sink.Fatal(fmt.Errorf("mongodb client options for %s: %w", RedactURI(s.cfg.ConnectionString), s.scrub.scrub(err)))
	}
	if !opts.WriteConcern.Acknowledged() {
		return sink.Fatal(errors.New("mongodb write concern w:0 is not allowed: unacknowledged writes leave the sink unable to know which documents were written, which defeats at-least-once delivery"))
	}

	client, err := mongo.Connect(opts)
	if err != nil {
		return sink.Fatal(fmt.Errorf("mongodb client for %s: %w", RedactURI(s.cfg.ConnectionString), s.scrub.scrub(err)))
	}
	db := client.Database(s.cfg.Database)

	conn := &connection{
		client:      client,
		db:          db,
		collections: make(map[string]*mongo.Collection),
		maxDocs:     defaultMaxWriteBatchSize,
		maxBytes:    defaultMaxMessageSizeBytes,
	}
	if err := s.readLimits(ctx, conn); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return mark(commandErrorClass(err), fmt.Errorf("mongodb connect to %s: %w", RedactURI(s.cfg.ConnectionString), s.scrub.scrub(err)))
	}
	s.conn.Store(conn)

	s.logger.Info("mongodb sink open",
		"server", RedactURI(s.cfg.ConnectionString),
		"database", s.cfg.Database,
		"collection", s.cfg.Collection,
		"write_model", string(s.cfg.WriteModel),
		"id_strategy", string(s.cfg.IDStrategy),
		"ordered", s.cfg.OrderedInserts,
		"max_write_batch_size", conn.maxDocs,
		"max_message_size_bytes", conn.maxBytes)
	return nil
}

// readLimits runs the hello command, which also proves that the server is
// reachable and the credentials good, and keeps the server's batch limits.
func (s *Sink) readLimits(ctx context.Context, conn *connection) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var hello struct {
		MaxWriteBatchSize   int `bson:"maxWriteBatchSize"`
		MaxMessageSizeBytes int `bson:"maxMessageSizeBytes"`
	}
	if err := conn.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return err
	}
	if hello.MaxWriteBatchSize > 0 {
		conn.maxDocs = hello.MaxWriteBatchSize
	}
	if hello.MaxMessageSizeBytes > 2*messageHeadroom {
		conn.maxBytes = hello.MaxMessageSizeBytes
	}
	return nil
}

// parseWriteConcern turns a validated Config.WriteConcern into a write
// concern.
func parseWriteConcern(w string) *writeconcern.WriteConcern {
	if w == "majority" {
		return writeconcern.Majority()
	}
	if n, err := strconv.Atoi(w); err == nil {
		return &writeconcern.WriteConcern{W: n}
	}
	return &writeconcern.WriteConcern{W: w}
}

// Close disconnects from MongoDB. Closing a sink that is not open does
// nothing. Write and Health return ErrNotOpen afterwards.
func (s *Sink) Close(ctx context.Context) error {
	conn := s.conn.Swap(nil)
	if conn == nil {
		return nil
	}
	if err := conn.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongodb disconnect: %w", s.scrub.scrub(err))
	}
	s.logger.Info("mongodb sink closed", "server", RedactURI(s.cfg.ConnectionString))
	return nil
}

// Health pings the primary, waiting at most Config.Timeout. It returns nil
// when the sink can write now, and otherwise a retryable error (ErrNotOpen
// before Open).
func (s *Sink) Health(ctx context.Context) error {
	conn := s.conn.Load()
	if conn == nil {
		return sink.Retryable(ErrNotOpen)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := conn.client.Ping(ctx, readpref.Primary()); err != nil {
		return sink.Retryable(fmt.Errorf("mongodb ping %s: %w", RedactURI(s.cfg.ConnectionString), s.scrub.scrub(err)))
	}
	return nil
}

// Write writes batch and returns nil when every record was written, or a
// *sink.BatchError naming each record that was not, with its class. The
// class is invalid data for a record whose document cannot be written
// (found before sending, or rejected by the server), retryable for one
// that was not written or is not known to be written, and fatal for a
// failure that stops the connector. A record the batch error does not name
// was written. Records are grouped by collection, in the order of their
// first record. Each group is sent as bulk writes of up to the server's
// limits, split where the write kind changes (insert, update, delete).
//
// The cost over the driver's own InsertMany is one pass over each
// payload, which converts it to BSON without reflection, into a buffer
// reused from batch to batch. Concurrent calls each take buffers of their
// own; Write neither modifies the records nor keeps them.
func (s *Sink) Write(ctx context.Context, batch []*sink.Record) error {
	conn := s.conn.Load()
	if conn == nil {
		return sink.Fatal(ErrNotOpen)
	}
	if len(batch) == 0 {
		return nil
	}

	w := s.writers.Get().(*batchWrite)
	defer s.writers.Put(w)
	w.reset(s, conn, batch)
	w.prepare()
	w.write(ctx)
	return w.result()
}

// ConcurrentWrites reports true: the runtime may call Write for several
// routes at once.
func (s *Sink) ConcurrentWrites() bool { return true }
