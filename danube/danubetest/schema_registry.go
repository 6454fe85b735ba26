package danubetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Schema types as the registry returns them.
const (
	schemaBytes      = "bytes"
	schemaString     = "string"
	schemaNumber     = "number"
	schemaAvro       = "avro"
	schemaJSONSchema = "json_schema"
	schemaProtobuf   = "protobuf"
)

// schemaRegistry stores subjects and their versions. A subject has one
// schema id for all its versions; versions count from 1.
type schemaRegistry struct {
	mu       sync.Mutex
	nextID   uint64
	subjects map[string]*schemaSubject
	byID     map[uint64]*schemaSubject
}

type schemaSubject struct {
	id            uint64
	name          string
	compatibility string // none, backward, forward or full
	versions      []*schemaVersion
}

type schemaVersion struct {
	version     uint32
	schemaType  string
	raw         string
	fingerprint string
	createdAt   time.Time
	createdBy   string
	description string
	tags        []string
}

func newSchemaRegistry() *schemaRegistry {
	return &schemaRegistry{
		nextID:   1,
		subjects: map[string]*schemaSubject{},
		byID:     map[uint64]*schemaSubject{},
	}
}

// normalizeSchemaType maps an accepted schema type spelling, in any case,
// to the registry's name for it.
func normalizeSchemaType(t string) (string, error) {
	switch strings.ToLower(t) {
	case "bytes":
		return schemaBytes, nil
	case "string":
		return schemaString, nil
	case "number", "int64", "int", "float", "double":
		return schemaNumber, nil
	case "avro":
		return schemaAvro, nil
	case "json_schema", "json":
		return schemaJSONSchema, nil
	case "protobuf", "proto":
		return schemaProtobuf, nil
	}
	return "", fmt.Errorf("unknown schema type %q: use bytes, string, number, avro, json_schema or protobuf", t)
}

func normalizeCompatibility(mode string) (string, error) {
	switch m := strings.ToLower(mode); m {
	case "none", "backward", "forward", "full":
		return m, nil
	}
	return "", fmt.Errorf("invalid compatibility mode %q: use none, backward, forward or full", mode)
}

// parseSchema checks a schema definition and returns its raw text and
// fingerprint. Avro and JSON Schema definitions must be JSON and are
// fingerprinted in a canonical compact form with sorted keys; protobuf
// definitions are fingerprinted as given.
func parseSchema(schemaType string, def []byte) (raw, fingerprint string, err error) {
	switch schemaType {
	case schemaBytes, schemaString, schemaNumber:
		return "", schemaType, nil
	case schemaProtobuf:
		if !utf8.Valid(def) {
			return "", "", fmt.Errorf("protobuf schema is not valid UTF-8")
		}
		return string(def), sha256Fingerprint(def), nil
	}

	var v any
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", "", fmt.Errorf("invalid %s schema: not JSON: %w", schemaType, err)
	}
	if schemaType == schemaJSONSchema {
		switch v.(type) {
		case map[string]any, bool:
		default:
			return "", "", fmt.Errorf("invalid JSON Schema: the root must be an object or a boolean")
		}
	}
	var canonical bytes.Buffer
	enc := json.NewEncoder(&canonical)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", "", fmt.Errorf("canonicalize %s schema: %w", schemaType, err)
	}
	return string(def), sha256Fingerprint(bytes.TrimRight(canonical.Bytes(), "\n")), nil
}

func sha256Fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// errIncompatible is returned by register for a schema that fails the
// subject's compatibility check.
type errIncompatible struct {
	subject string
	mode    string
	reasons []string
}

func (e *errIncompatible) Error() string {
	return fmt.Sprintf("schema is not compatible with subject %q (mode %s): %s", e.subject, e.mode, strings.Join(e.reasons, "; "))
}

// register adds a version to subject, or returns the existing version with
// the same fingerprint.
func (r *schemaRegistry) register(subject, schemaType string, def []byte, description, createdBy string, tags []string, now time.Time) (id uint64, version uint32, isNew bool, fingerprint string, err error) {
	st, err := normalizeSchemaType(schemaType)
	if err != nil {
		return 0, 0, false, "", err
	}
	raw, fp, err := parseSchema(st, def)
	if err != nil {
		return 0, 0, false, "", err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[subject]
	if s == nil {
		s = &schemaSubject{id: r.nextID, name: subject, compatibility: "backward"}
		r.nextID++
		r.subjects[subject] = s
		r.byID[s.id] = s
	} else {
		for _, v := range s.versions {
			if v.fingerprint == fp {
				return s.id, v.version, false, fp, nil
			}
		}
		if latest := s.latest(); latest != nil && s.compatibility != "none" {
			if reasons := checkCompatibility(latest, st, raw, s.compatibility); len(reasons) > 0 {
				return 0, 0, false, "", &errIncompatible{subject: subject, mode: s.compatibility, reasons: reasons}
			}
		}
	}

	v := &schemaVersion{
		version:     s.nextVersion(),
		schemaType:  st,
		raw:         raw,
		fingerprint: fp,
		createdAt:   now,
		createdBy:   createdBy,
		description: description,
		tags:        append([]string(nil), tags...),
	}
	s.versions = append(s.versions, v)
	return s.id, v.version, true, fp, nil
}

func (s *schemaSubject) latest() *schemaVersion {
	if len(s.versions) == 0 {
		return nil
	}
	return s.versions[len(s.versions)-1]
}

func (s *schemaSubject) nextVersion() uint32 {
	if l := s.latest(); l != nil {
		return l.version + 1
	}
	return 1
}

func (s *schemaSubject) version(v uint32) *schemaVersion {
	for _, sv := range s.versions {
		if sv.version == v {
			return sv
		}
	}
	return nil
}

// snapshot returns a copy of the subject, safe to read without the lock.
func (s *schemaSubject) snapshot() *schemaSubject {
	c := *s
	c.versions = append([]*schemaVersion(nil), s.versions...)
	return &c
}

func (r *schemaRegistry) subject(name string) *schemaSubject {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.subjects[name]; s != nil {
		return s.snapshot()
	}
	return nil
}

func (r *schemaRegistry) subjectByID(id uint64) *schemaSubject {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byID[id]; s != nil {
		return s.snapshot()
	}
	return nil
}

func (r *schemaRegistry) hasSubject(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[name]
	return s != nil && len(s.versions) > 0
}

func (r *schemaRegistry) subjectNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.subjects))
	for n := range r.subjects {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *schemaRegistry) setCompatibility(subject, mode string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[subject]
	if s == nil {
		return fmt.Errorf("subject %q not found", subject)
	}
	s.compatibility = mode
	return nil
}

func (r *schemaRegistry) deleteVersion(subject string, version uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.subjects[subject]
	if s == nil {
		return fmt.Errorf("subject %q not found", subject)
	}
	for i, v := range s.versions {
		if v.version == version {
			s.versions = append(s.versions[:i:i], s.versions[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("version %d of subject %q not found", version, subject)
}

// definitionJSON returns the schema definition the way the broker returns
// it from GetSchema: not the raw schema but a JSON wrapper naming its type,
// "Bytes", "String", "Number", {"Avro":{...}}, {"JsonSchema":{...}} or
// {"Protobuf":{...}}.
func (v *schemaVersion) definitionJSON() []byte {
	var out any
	switch v.schemaType {
	case schemaBytes:
		out = "Bytes"
	case schemaString:
		out = "String"
	case schemaNumber:
		out = "Number"
	case schemaAvro:
		out = map[string]any{"Avro": map[string]string{"raw_schema": v.raw, "fingerprint": v.fingerprint}}
	case schemaJSONSchema:
		out = map[string]any{"JsonSchema": map[string]string{"raw_schema": v.raw, "fingerprint": v.fingerprint}}
	case schemaProtobuf:
		out = map[string]any{"Protobuf": map[string]string{"raw_proto": v.raw, "message_name": "DefaultMessage", "fingerprint": v.fingerprint}}
	}
	b, _ := json.Marshal(out)
	return b
}
