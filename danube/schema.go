package danube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

// SchemaType is the type of a registered schema, as the broker names it.
// RegisterSchema and CheckCompatibility also accept the broker's aliases
// ("json", "proto", "int64", …), case-insensitively.
type SchemaType string

// Schema types the broker returns.
const (
	SchemaBytes      SchemaType = "bytes"
	SchemaString     SchemaType = "string"
	SchemaNumber     SchemaType = "number"
	SchemaAvro       SchemaType = "avro"
	SchemaJSONSchema SchemaType = "json_schema"
	SchemaProtobuf   SchemaType = "protobuf"
)

// Schema is one version of a registered schema subject. Every version of a
// subject shares the subject's ID.
//
// Schemas returned by SchemaRegistry are shared by its cache: do not
// modify them.
type Schema struct {
	// ID identifies the subject, the same for all its versions. Messages
	// carry it as their SchemaID.
	ID uint64
	// Version numbers this version within the subject, from 1.
	Version uint32
	// Subject is the name the schema was registered under.
	Subject string
	// Type is the kind of schema, one of the Schema* constants.
	Type SchemaType
	// Definition is the schema text as registered: the Avro or JSON Schema
	// document, or the .proto source. It is nil for bytes, string and
	// number schemas, which have no text.
	Definition []byte
	// MessageName is the message type of a protobuf schema.
	MessageName string
	// RawDefinition is the definition as the broker returned it: its own
	// JSON encoding of the schema, from which Definition is decoded.
	RawDefinition []byte
	// Fingerprint is the broker's hash of the definition, equal for
	// identical definitions. Its format is the broker's.
	Fingerprint string
	// Description and CreatedBy are the free-form metadata given at
	// registration (see SchemaRegistration).
	Description string
	CreatedBy   string
	// CreatedAt is when the version was registered, to the second, or
	// zero when the broker did not report it.
	CreatedAt time.Time
	// Tags are the free-form labels given at registration.
	Tags []string
	// CompatibilityMode is the subject's mode that a new version must
	// satisfy: none, backward, forward or full.
	CompatibilityMode string
}

// SchemaRegistry is the client of the broker's schema registry, reached
// through the service URL. Get it from Client.Schemas. GetSchema caches
// every (id, version) it has fetched for the life of the Client, since a
// registered version never changes.
type SchemaRegistry struct {
	c *Client

	mu    sync.RWMutex
	cache map[schemaKey]*Schema
}

type schemaKey struct {
	id      uint64
	version uint32
}

func newSchemaRegistry(c *Client) *SchemaRegistry {
	return &SchemaRegistry{c: c, cache: make(map[schemaKey]*Schema)}
}

// Schemas returns the Client's schema registry client.
func (c *Client) Schemas() *SchemaRegistry { return c.schemas }

func (r *SchemaRegistry) stub() schemapb.SchemaRegistryClient { return r.c.service.pick().schema }

// GetSchema returns version version of the schema subject with id id, from
// the cache when it was fetched before. Version 0 means the latest version,
// which is always fetched (and then cached under its number). Consumers
// call it with a message's SchemaID and SchemaVersion.
func (r *SchemaRegistry) GetSchema(ctx context.Context, id uint64, version uint32) (*Schema, error) {
	if version != 0 {
		r.mu.RLock()
		s, ok := r.cache[schemaKey{id, version}]
		r.mu.RUnlock()
		if ok {
			return s, nil
		}
	}
	if r.c.isClosed() {
		return nil, closedError("get schema", "")
	}

	req := &schemapb.GetSchemaRequest{SchemaId: id}
	if version != 0 {
		req.Version = &version
	}
	resp, err := r.stub().GetSchema(ctx, req)
	if err != nil {
		return nil, newError("get schema", fmt.Sprintf("id %d version %d", id, version), err)
	}
	return r.store(resp), nil
}

// GetLatestSchema returns the latest version of subject. It always calls
// the broker, and caches the result for GetSchema.
func (r *SchemaRegistry) GetLatestSchema(ctx context.Context, subject string) (*Schema, error) {
	if subject == "" {
		return nil, localError("get latest schema", "", codes.InvalidArgument, fmt.Errorf("the subject is empty"))
	}
	if r.c.isClosed() {
		return nil, closedError("get latest schema", "")
	}
	resp, err := r.stub().GetLatestSchema(ctx, &schemapb.GetLatestSchemaRequest{Subject: subject})
	if err != nil {
		return nil, newError("get latest schema", "subject "+subject, err)
	}
	return r.store(resp), nil
}

func (r *SchemaRegistry) store(resp *schemapb.GetSchemaResponse) *Schema {
	def, msgName := decodeSchemaDefinition(resp.GetSchemaDefinition())
	s := &Schema{
		ID:                resp.GetSchemaId(),
		Version:           resp.GetVersion(),
		Subject:           resp.GetSubject(),
		Type:              SchemaType(resp.GetSchemaType()),
		Definition:        def,
		MessageName:       msgName,
		RawDefinition:     resp.GetSchemaDefinition(),
		Fingerprint:       resp.GetFingerprint(),
		Description:       resp.GetDescription(),
		CreatedBy:         resp.GetCreatedBy(),
		Tags:              resp.GetTags(),
		CompatibilityMode: resp.GetCompatibilityMode(),
	}
	if at := resp.GetCreatedAt(); at != 0 {
		s.CreatedAt = time.Unix(int64(at), 0)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	key := schemaKey{s.ID, s.Version}
	if old, ok := r.cache[key]; ok {
		return old
	}
	r.cache[key] = s
	return s
}

// SchemaRegistration is a schema to register.
type SchemaRegistration struct {
	// Subject is the name to register under, which the first
	// registration creates. Required.
	Subject string
	// Type is the kind of schema, a Schema* constant or one of the
	// broker's aliases. Required.
	Type SchemaType
	// Definition is the schema text, empty for bytes, string and number.
	Definition []byte
	// Description, CreatedBy and Tags are free-form metadata that the
	// broker stores with the version and returns in Schema. Optional.
	Description string
	CreatedBy   string
	Tags        []string
}

// RegisteredSchema is the result of RegisterSchema.
type RegisteredSchema struct {
	// ID identifies the subject, the same for all its versions.
	ID uint64
	// Version is the number of the new version, or of the existing
	// version whose definition matched.
	Version uint32
	// IsNewVersion is false when the definition matched an existing
	// version, whose number is returned.
	IsNewVersion bool
	// Fingerprint is the broker's hash of the definition, as in Schema.
	Fingerprint string
}

// RegisterSchema adds a version to a subject, creating the subject if
// needed. A definition identical to an existing version returns that
// version. A definition incompatible with the latest version under the
// subject's compatibility mode fails (the broker reports it as
// ErrInternal).
func (r *SchemaRegistry) RegisterSchema(ctx context.Context, reg SchemaRegistration) (RegisteredSchema, error) {
	if reg.Subject == "" || reg.Type == "" {
		return RegisteredSchema{}, localError("register schema", "", codes.InvalidArgument, fmt.Errorf("a subject and a schema type are required"))
	}
	if r.c.isClosed() {
		return RegisteredSchema{}, closedError("register schema", "")
	}
	resp, err := r.stub().RegisterSchema(ctx, &schemapb.RegisterSchemaRequest{
		Subject:          reg.Subject,
		SchemaType:       string(reg.Type),
		SchemaDefinition: reg.Definition,
		Description:      reg.Description,
		CreatedBy:        reg.CreatedBy,
		Tags:             reg.Tags,
	})
	if err != nil {
		return RegisteredSchema{}, newError("register schema", "subject "+reg.Subject, err)
	}
	return RegisteredSchema{
		ID:           resp.GetSchemaId(),
		Version:      resp.GetVersion(),
		IsNewVersion: resp.GetIsNewVersion(),
		Fingerprint:  resp.GetFingerprint(),
	}, nil
}

// Compatibility is the result of CheckCompatibility.
type Compatibility struct {
	// Compatible reports whether the definition could be registered as
	// the subject's next version.
	Compatible bool
	// Errors explains an incompatibility, in the broker's words.
	Errors []string
}

// CheckCompatibility reports whether definition could be registered as the
// next version of subject. mode overrides the subject's compatibility mode
// (none, backward, forward, full) for this check; "" keeps it.
func (r *SchemaRegistry) CheckCompatibility(ctx context.Context, subject string, typ SchemaType, definition []byte, mode string) (Compatibility, error) {
	if subject == "" || typ == "" {
		return Compatibility{}, localError("check compatibility", "", codes.InvalidArgument, fmt.Errorf("a subject and a schema type are required"))
	}
	if r.c.isClosed() {
		return Compatibility{}, closedError("check compatibility", "")
	}
	req := &schemapb.CheckCompatibilityRequest{
		Subject:             subject,
		NewSchemaDefinition: definition,
		SchemaType:          string(typ),
	}
	if mode != "" {
		req.CompatibilityMode = &mode
	}
	resp, err := r.stub().CheckCompatibility(ctx, req)
	if err != nil {
		return Compatibility{}, newError("check compatibility", "subject "+subject, err)
	}
	return Compatibility{Compatible: resp.GetIsCompatible(), Errors: resp.GetErrors()}, nil
}

// resolveSchema turns the producer's schema reference into the schema id
// and version stamped on every message, as the broker's own clients do. It
// takes the latest version, or a pinned one that must exist, or the latest
// if it is at least the minimum.
func (p *Producer) resolveSchema(ctx context.Context, ref *SchemaReference) error {
	if ref == nil {
		return nil
	}
	reg := p.client.schemas
	var latest *Schema
	err := p.client.retrying(ctx, "create producer", p.topic, func() (err error) {
		latest, err = reg.GetLatestSchema(ctx, ref.Subject)
		return err
	})
	if err != nil {
		return newError("create producer", p.topic, err)
	}

	pr := &danubepb.SchemaReference{Subject: ref.Subject}
	id, version := latest.ID, latest.Version
	switch {
	case ref.PinnedVersion != 0:
		if ref.PinnedVersion > latest.Version {
			return localError("create producer", p.topic, codes.FailedPrecondition,
				fmt.Errorf("schema subject %q has no version %d: the latest is %d", ref.Subject, ref.PinnedVersion, latest.Version))
		}
		if ref.PinnedVersion < latest.Version {
			var pinned *Schema
			err := p.client.retrying(ctx, "create producer", p.topic, func() (err error) {
				pinned, err = reg.GetSchema(ctx, latest.ID, ref.PinnedVersion)
				return err
			})
			if err != nil {
				return newError("create producer", p.topic, err)
			}
			id, version = pinned.ID, pinned.Version
		}
		pr.VersionRef = &danubepb.SchemaReference_PinnedVersion{PinnedVersion: ref.PinnedVersion}
	case ref.MinVersion != 0:
		if latest.Version < ref.MinVersion {
			return localError("create producer", p.topic, codes.FailedPrecondition,
				fmt.Errorf("schema subject %q is at version %d, below the minimum %d", ref.Subject, latest.Version, ref.MinVersion))
		}
		pr.VersionRef = &danubepb.SchemaReference_MinVersion{MinVersion: ref.MinVersion}
	default:
		pr.VersionRef = &danubepb.SchemaReference_UseLatest{UseLatest: true}
	}

	p.schemaRef = pr
	p.schemaID = &id
	p.schemaVer = &version
	return nil
}
