package danubetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

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
