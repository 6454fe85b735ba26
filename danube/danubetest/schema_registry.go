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

// checkCompatibility compares a candidate schema with the latest version of
// a subject under mode and returns the reasons it is incompatible, none if
// it is compatible. Both schemas must have the same type. For JSON Schema
// the check reads the top-level "properties" and "required": backward
// compatibility forbids removing a required field and making an optional
// field required, forward compatibility forbids adding a required field,
// and both forbid changing a field's "type". For Avro records the check
// reads the top-level "fields": backward compatibility forbids a new field
// without a default, forward compatibility forbids removing a field without
// a default, and both forbid changing a field's type. bytes, string, number
// and protobuf schemas of the same type are always compatible.
func checkCompatibility(latest *schemaVersion, schemaType, raw, mode string) []string {
	if mode == "none" {
		return nil
	}
	if latest.schemaType != schemaType {
		return []string{fmt.Sprintf("schema types must match: the subject is %s, the new schema is %s", latest.schemaType, schemaType)}
	}
	backward := mode == "backward" || mode == "full"
	forward := mode == "forward" || mode == "full"
	switch schemaType {
	case schemaJSONSchema:
		return jsonSchemaCompatibility(latest.raw, raw, backward, forward)
	case schemaAvro:
		return avroCompatibility(latest.raw, raw, backward, forward)
	}
	return nil
}

func jsonSchemaCompatibility(oldRaw, newRaw string, backward, forward bool) []string {
	var oldSchema, newSchema map[string]any
	_ = json.Unmarshal([]byte(oldRaw), &oldSchema)
	_ = json.Unmarshal([]byte(newRaw), &newSchema)
	oldProps, _ := oldSchema["properties"].(map[string]any)
	newProps, _ := newSchema["properties"].(map[string]any)
	oldRequired, newRequired := stringSet(oldSchema["required"]), stringSet(newSchema["required"])

	var reasons []string
	if backward {
		for _, f := range sortedKeys(oldRequired) {
			if _, ok := newProps[f]; !ok {
				reasons = append(reasons, fmt.Sprintf("backward incompatible: removed required field %q", f))
			}
		}
		for _, f := range sortedKeys(newRequired) {
			if _, known := oldProps[f]; known && !oldRequired[f] {
				reasons = append(reasons, fmt.Sprintf("backward incompatible: made optional field %q required", f))
			}
		}
	}
	if forward {
		for _, f := range sortedKeys(newRequired) {
			if _, known := oldProps[f]; !known {
				reasons = append(reasons, fmt.Sprintf("forward incompatible: added required field %q", f))
			}
		}
	}
	for _, f := range sortedKeys(oldProps) {
		oldProp, _ := oldProps[f].(map[string]any)
		newProp, ok := newProps[f].(map[string]any)
		if !ok || oldProp["type"] == nil || newProp["type"] == nil {
			continue
		}
		if fmt.Sprint(oldProp["type"]) != fmt.Sprint(newProp["type"]) {
			reasons = append(reasons, fmt.Sprintf("incompatible: changed type of field %q", f))
		}
	}
	return reasons
}

func avroCompatibility(oldRaw, newRaw string, backward, forward bool) []string {
	type field struct {
		Type       any             `json:"type"`
		Default    json.RawMessage `json:"default"`
		hasDefault bool
	}
	fields := func(raw string) map[string]field {
		var rec struct {
			Fields []struct {
				Name    string          `json:"name"`
				Type    any             `json:"type"`
				Default json.RawMessage `json:"default"`
			} `json:"fields"`
		}
		_ = json.Unmarshal([]byte(raw), &rec)
		m := map[string]field{}
		for _, f := range rec.Fields {
			m[f.Name] = field{Type: f.Type, Default: f.Default, hasDefault: f.Default != nil}
		}
		return m
	}
	oldFields, newFields := fields(oldRaw), fields(newRaw)

	var reasons []string
	if backward {
		for _, name := range sortedKeys(newFields) {
			if _, ok := oldFields[name]; !ok && !newFields[name].hasDefault {
				reasons = append(reasons, fmt.Sprintf("backward incompatible: added field %q without a default", name))
			}
		}
	}
	if forward {
		for _, name := range sortedKeys(oldFields) {
			if _, ok := newFields[name]; !ok && !oldFields[name].hasDefault {
				reasons = append(reasons, fmt.Sprintf("forward incompatible: removed field %q without a default", name))
			}
		}
	}
	for _, name := range sortedKeys(oldFields) {
		nf, ok := newFields[name]
		if ok && fmt.Sprint(oldFields[name].Type) != fmt.Sprint(nf.Type) {
			reasons = append(reasons, fmt.Sprintf("incompatible: changed type of field %q", name))
		}
	}
	return reasons
}

func stringSet(v any) map[string]bool {
	set := map[string]bool{}
	list, _ := v.([]any)
	for _, item := range list {
		if s, ok := item.(string); ok {
			set[s] = true
		}
	}
	return set
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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

// validateJSONPayload checks payload against a JSON Schema, shallowly: it
// must be JSON, its root must have the schema's top-level "type" when the
// schema names one, and an object must have the schema's "required"
// properties.
func validateJSONPayload(schemaRaw string, payload []byte) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("payload is not JSON: %w", err)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(schemaRaw), &schema); err != nil {
		return nil
	}
	if want, ok := schema["type"].(string); ok && jsonType(doc) != want && !(want == "number" && jsonType(doc) == "integer") {
		return fmt.Errorf("payload is a JSON %s, the schema requires %s", jsonType(doc), want)
	}
	if obj, ok := doc.(map[string]any); ok {
		for _, f := range sortedKeys(stringSet(schema["required"])) {
			if _, present := obj[f]; !present {
				return fmt.Errorf("payload lacks required property %q", f)
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return "unknown"
}
