package danubetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

// schemaService serves the schema registry, on the client port and on the
// admin port alike.
type schemaService struct {
	schemapb.UnimplementedSchemaRegistryServer
	inst *instance
}

func (s *schemaService) registry() *schemaRegistry { return s.inst.b.md.schemas }

// RegisterSchema adds a version to a subject, or returns the version with
// the same fingerprint.
func (s *schemaService) RegisterSchema(ctx context.Context, req *schemapb.RegisterSchemaRequest) (*schemapb.RegisterSchemaResponse, error) {
	if req.GetSubject() == "" {
		return nil, status.Error(codes.InvalidArgument, "subject is missing")
	}
	id, version, isNew, fp, err := s.registry().register(req.GetSubject(), req.GetSchemaType(), req.GetSchemaDefinition(),
		req.GetDescription(), req.GetCreatedBy(), req.GetTags(), s.inst.b.clk.Now())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "failed to register schema: %v", err)
	}
	return &schemapb.RegisterSchemaResponse{SchemaId: id, Version: version, IsNewVersion: isNew, Fingerprint: fp}, nil
}

func schemaResponse(sub *schemaSubject, v *schemaVersion) *schemapb.GetSchemaResponse {
	return &schemapb.GetSchemaResponse{
		SchemaId:          sub.id,
		Version:           v.version,
		Subject:           sub.name,
		SchemaType:        v.schemaType,
		SchemaDefinition:  v.definitionJSON(),
		Description:       v.description,
		CreatedAt:         uint64(v.createdAt.Unix()),
		CreatedBy:         v.createdBy,
		Tags:              v.tags,
		Fingerprint:       v.fingerprint,
		CompatibilityMode: sub.compatibility,
	}
}

// GetSchema returns a version of the subject with the given schema id, the
// latest when no version is given.
func (s *schemaService) GetSchema(ctx context.Context, req *schemapb.GetSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	sub := s.registry().subjectByID(req.GetSchemaId())
	if sub == nil {
		return nil, status.Errorf(codes.NotFound, "schema id %d not found", req.GetSchemaId())
	}
	v := sub.latest()
	if req.Version != nil {
		v = sub.version(req.GetVersion())
	}
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "version %d of schema id %d not found", req.GetVersion(), req.GetSchemaId())
	}
	return schemaResponse(sub, v), nil
}

// GetLatestSchema returns the latest version of a subject.
func (s *schemaService) GetLatestSchema(ctx context.Context, req *schemapb.GetLatestSchemaRequest) (*schemapb.GetSchemaResponse, error) {
	sub := s.registry().subject(req.GetSubject())
	if sub == nil || sub.latest() == nil {
		return nil, status.Errorf(codes.NotFound, "subject %q not found", req.GetSubject())
	}
	return schemaResponse(sub, sub.latest()), nil
}

// ListVersions lists the versions of a subject.
func (s *schemaService) ListVersions(ctx context.Context, req *schemapb.ListVersionsRequest) (*schemapb.ListVersionsResponse, error) {
	sub := s.registry().subject(req.GetSubject())
	if sub == nil {
		return nil, status.Errorf(codes.NotFound, "subject %q not found", req.GetSubject())
	}
	resp := &schemapb.ListVersionsResponse{}
	for _, v := range sub.versions {
		resp.Versions = append(resp.Versions, &schemapb.SchemaVersionInfo{
			Version:     v.version,
			CreatedAt:   uint64(v.createdAt.Unix()),
			CreatedBy:   v.createdBy,
			Description: v.description,
			Fingerprint: v.fingerprint,
			SchemaId:    sub.id,
		})
	}
	return resp, nil
}

// CheckCompatibility checks a candidate schema against the latest version of
// a subject, under the subject's mode or the one in the request.
func (s *schemaService) CheckCompatibility(ctx context.Context, req *schemapb.CheckCompatibilityRequest) (*schemapb.CheckCompatibilityResponse, error) {
	var mode string
	if req.CompatibilityMode != nil {
		m, err := normalizeCompatibility(req.GetCompatibilityMode())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		mode = m
	}
	st, err := normalizeSchemaType(req.GetSchemaType())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "failed to check compatibility: %v", err)
	}
	raw, _, err := parseSchema(st, req.GetNewSchemaDefinition())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "failed to check compatibility: %v", err)
	}
	sub := s.registry().subject(req.GetSubject())
	if sub == nil || sub.latest() == nil {
		return nil, status.Errorf(codes.Internal, "failed to check compatibility: subject %q not found", req.GetSubject())
	}
	if mode == "" {
		mode = sub.compatibility
	}
	reasons := checkCompatibility(sub.latest(), st, raw, mode)
	return &schemapb.CheckCompatibilityResponse{IsCompatible: len(reasons) == 0, Errors: reasons}, nil
}

// DeleteSchemaVersion removes one version of a subject.
func (s *schemaService) DeleteSchemaVersion(ctx context.Context, req *schemapb.DeleteSchemaVersionRequest) (*schemapb.DeleteSchemaVersionResponse, error) {
	if err := s.registry().deleteVersion(req.GetSubject(), req.GetVersion()); err != nil {
		return nil, status.Errorf(codes.Internal, "failed to delete schema version: %v", err)
	}
	return &schemapb.DeleteSchemaVersionResponse{
		Success: true,
		Message: fmt.Sprintf("deleted version %d of subject %s", req.GetVersion(), req.GetSubject()),
	}, nil
}

// SetCompatibilityMode sets the mode new versions of a subject are checked
// under.
func (s *schemaService) SetCompatibilityMode(ctx context.Context, req *schemapb.SetCompatibilityModeRequest) (*schemapb.SetCompatibilityModeResponse, error) {
	mode, err := normalizeCompatibility(req.GetCompatibilityMode())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.registry().setCompatibility(req.GetSubject(), mode); err != nil {
		return nil, status.Errorf(codes.Internal, "failed to set compatibility mode: %v", err)
	}
	return &schemapb.SetCompatibilityModeResponse{
		Success: true,
		Message: fmt.Sprintf("set compatibility mode to %s for subject %s", mode, req.GetSubject()),
	}, nil
}

func normalizeValidationPolicy(p string) (string, error) {
	switch v := strings.ToLower(p); v {
	case "none", "warn", "enforce":
		return v, nil
	}
	return "", fmt.Errorf("invalid validation policy %q: use none, warn or enforce", p)
}

// ConfigureTopicSchema sets a topic's subject, validation policy and
// payload validation.
func (s *schemaService) ConfigureTopicSchema(ctx context.Context, req *schemapb.ConfigureTopicSchemaRequest) (*schemapb.ConfigureTopicSchemaResponse, error) {
	policy, err := normalizeValidationPolicy(req.GetValidationPolicy())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !s.registry().hasSubject(req.GetSchemaSubject()) {
		return nil, status.Errorf(codes.NotFound, "schema subject %q not found in the registry", req.GetSchemaSubject())
	}
	meta := s.inst.b.md.topic(req.GetTopicName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopicName())
	}
	meta.schema.Store(&topicSchema{subject: req.GetSchemaSubject(), policy: policy, payloadValidation: req.GetEnablePayloadValidation()})
	return &schemapb.ConfigureTopicSchemaResponse{
		Success: true,
		Message: fmt.Sprintf("topic %s uses subject %s with validation policy %s", req.GetTopicName(), req.GetSchemaSubject(), policy),
	}, nil
}

// UpdateTopicValidationPolicy changes a topic's validation policy and
// payload validation, keeping its subject.
func (s *schemaService) UpdateTopicValidationPolicy(ctx context.Context, req *schemapb.UpdateTopicValidationPolicyRequest) (*schemapb.UpdateTopicValidationPolicyResponse, error) {
	policy, err := normalizeValidationPolicy(req.GetValidationPolicy())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	meta := s.inst.b.md.topic(req.GetTopicName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopicName())
	}
	s.inst.b.md.mu.Lock()
	old := meta.schema.Load()
	meta.schema.Store(&topicSchema{subject: old.subject, policy: policy, payloadValidation: req.GetEnablePayloadValidation()})
	s.inst.b.md.mu.Unlock()
	return &schemapb.UpdateTopicValidationPolicyResponse{
		Success: true,
		Message: fmt.Sprintf("topic %s validation policy is %s", req.GetTopicName(), policy),
	}, nil
}

// GetTopicSchemaConfig returns a topic's schema configuration.
func (s *schemaService) GetTopicSchemaConfig(ctx context.Context, req *schemapb.GetTopicSchemaConfigRequest) (*schemapb.GetTopicSchemaConfigResponse, error) {
	meta := s.inst.b.md.topic(req.GetTopicName())
	if meta == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopicName())
	}
	cfg := meta.schema.Load()
	resp := &schemapb.GetTopicSchemaConfigResponse{
		SchemaSubject:           cfg.subject,
		ValidationPolicy:        cfg.policy,
		EnablePayloadValidation: cfg.payloadValidation,
	}
	if sub := s.registry().subject(cfg.subject); sub != nil {
		resp.SchemaId = sub.id
	}
	return resp, nil
}

// ListSubjects lists every subject with its latest version.
func (s *schemaService) ListSubjects(ctx context.Context, req *schemapb.ListSubjectsRequest) (*schemapb.ListSubjectsResponse, error) {
	resp := &schemapb.ListSubjectsResponse{}
	for _, name := range s.registry().subjectNames() {
		sub := s.registry().subject(name)
		if sub == nil {
			continue
		}
		sum := &schemapb.SubjectSummary{Subject: sub.name, CompatibilityMode: sub.compatibility, SchemaId: sub.id}
		if l := sub.latest(); l != nil {
			sum.SchemaType = l.schemaType
			sum.LatestVersion = l.version
			sum.Tags = l.tags
		}
		resp.Subjects = append(resp.Subjects, sum)
	}
	return resp, nil
}

// bindProducerSchema applies a producer's schema reference to a topic: a
// topic without a subject takes the producer's, and a topic with one
// accepts only the same subject.
func (b *Broker) bindProducerSchema(meta *topicMeta, ref *danubepb.SchemaReference) error {
	if ref == nil {
		return nil
	}
	subject := ref.GetSubject()
	if !b.md.schemas.hasSubject(subject) {
		return status.Errorf(codes.FailedPrecondition, "schema subject %q is not registered", subject)
	}
	b.md.mu.Lock()
	defer b.md.mu.Unlock()
	cfg := meta.schema.Load()
	switch cfg.subject {
	case subject:
		return nil
	case "":
		meta.schema.Store(&topicSchema{subject: subject, policy: cfg.policy, payloadValidation: cfg.payloadValidation})
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "topic %s uses schema subject %q, the producer asked for %q", meta.name, cfg.subject, subject)
}

var errSchemaRejected = errors.New("schema validation failed")

// validateSchema applies the topic's validation policy to m. Under enforce
// a message must carry a schema id of the topic's subject. Under warn and
// enforce alike, an unknown schema id and a failed payload validation
// reject the message. A rejection is PERMISSION_DENIED.
func (b *Broker) validateSchema(meta *topicMeta, m *danubepb.StreamMessage) error {
	cfg := meta.schema.Load()
	if cfg.policy == "none" || (cfg.subject == "" && m.SchemaId == nil && cfg.policy != "enforce") {
		return nil
	}
	reject := func(format string, args ...any) error {
		return status.Errorf(codes.PermissionDenied, "unable to publish the message: %v: %s", errSchemaRejected, fmt.Sprintf(format, args...))
	}

	var sub *schemaSubject
	if m.SchemaId != nil {
		sub = b.md.schemas.subjectByID(m.GetSchemaId())
		if sub == nil {
			return reject("schema id %d is unknown", m.GetSchemaId())
		}
	}

	problem := ""
	switch {
	case cfg.subject == "":
		problem = fmt.Sprintf("topic %s has no schema subject", meta.name)
	case sub == nil:
		problem = fmt.Sprintf("message has no schema id but topic %s uses subject %q", meta.name, cfg.subject)
	case sub.name != cfg.subject:
		problem = fmt.Sprintf("schema id %d belongs to subject %q, topic %s uses %q", m.GetSchemaId(), sub.name, meta.name, cfg.subject)
	}
	if problem != "" {
		if cfg.policy == "enforce" {
			return reject("%s", problem)
		}
		// Log the first failure of a topic and every 1000th after it.
		if n := meta.schemaWarnings.Add(1); n%1000 == 1 {
			b.log.Warn("schema validation failed, message accepted under policy warn",
				"topic", meta.name, "problem", problem, "failures", n)
		}
	}

	if cfg.payloadValidation && cfg.subject != "" {
		if err := b.validatePayload(cfg.subject, m); err != nil {
			return reject("%v", err)
		}
	}
	return nil
}

// validatePayload checks m's payload against the version of subject the
// message names, version 1 when it names none. A JSON Schema payload must
// be JSON whose root has the schema's "type" and, for an object, the
// "required" properties. A string payload must be UTF-8, a number payload
// exactly 4 or 8 bytes, and an avro payload an Avro object container file.
func (b *Broker) validatePayload(subject string, m *danubepb.StreamMessage) error {
	sub := b.md.schemas.subject(subject)
	if sub == nil {
		return fmt.Errorf("subject %q not found", subject)
	}
	version := uint32(1)
	if m.SchemaVersion != nil {
		version = m.GetSchemaVersion()
	}
	v := sub.version(version)
	if v == nil {
		return fmt.Errorf("version %d of subject %q not found", version, subject)
	}
	payload := m.GetPayload()
	switch v.schemaType {
	case schemaString:
		if !utf8.Valid(payload) {
			return errors.New("payload is not valid UTF-8")
		}
	case schemaNumber:
		if len(payload) != 4 && len(payload) != 8 {
			return fmt.Errorf("number payload has %d bytes, must have 4 or 8", len(payload))
		}
	case schemaAvro:
		if !strings.HasPrefix(string(payload), "Obj\x01") {
			return errors.New("avro payload is not an Avro object container file")
		}
	case schemaJSONSchema:
		return validateJSONPayload(v.raw, payload)
	case schemaProtobuf:
		return errors.New("payload validation of protobuf schemas is not supported")
	}
	return nil
}
