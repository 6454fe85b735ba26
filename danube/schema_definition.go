package danube

import "encoding/json"

// decodeSchemaDefinition extracts the schema text from the definition a
// GetSchema response carries. The broker does not return the registered
// bytes: it returns its internal definition serialised as JSON, tagged by
// type:
//
//	"Bytes", "String", "Number"                     no text
//	{"Avro":{"raw_schema":"…","fingerprint":"…"}}
//	{"JsonSchema":{"raw_schema":"…","fingerprint":"…"}}
//	{"Protobuf":{"raw_proto":"…","message_name":"…","fingerprint":"…"}}
//
// A definition that is not such a wrapper is returned unchanged, so that a
// registry returning the raw schema still works.
func decodeSchemaDefinition(raw []byte) (definition []byte, messageName string) {
	if len(raw) == 0 {
		return nil, ""
	}

	var tag string
	if err := json.Unmarshal(raw, &tag); err == nil {
		switch tag {
		case "Bytes", "String", "Number":
			return nil, ""
		}
		return raw, ""
	}

	var wrapper struct {
		Avro *struct {
			RawSchema *string `json:"raw_schema"`
		} `json:"Avro"`
		JSONSchema *struct {
			RawSchema *string `json:"raw_schema"`
		} `json:"JsonSchema"`
		Protobuf *struct {
			RawProto    *string `json:"raw_proto"`
			MessageName string  `json:"message_name"`
		} `json:"Protobuf"`
	}
	if err := json.Unmarshal(raw, &wrapper); err != nil {
		return raw, ""
	}
	switch {
	case wrapper.Avro != nil && wrapper.Avro.RawSchema != nil:
		return []byte(*wrapper.Avro.RawSchema), ""
	case wrapper.JSONSchema != nil && wrapper.JSONSchema.RawSchema != nil:
		return []byte(*wrapper.JSONSchema.RawSchema), ""
	case wrapper.Protobuf != nil && wrapper.Protobuf.RawProto != nil:
		return []byte(*wrapper.Protobuf.RawProto), wrapper.Protobuf.MessageName
	}
	return raw, ""
}
