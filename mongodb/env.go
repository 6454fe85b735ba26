package mongodb

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment variables that ApplyEnv reads, one for each Config field.
const (
	EnvConnectionString     = "MONGODB_CONNECTION_STRING"
	EnvDatabase             = "MONGODB_DATABASE"
	EnvCollection           = "MONGODB_COLLECTION"
	EnvCollections          = "MONGODB_COLLECTIONS" // topic=collection pairs, comma-separated
	EnvCollectionField      = "MONGODB_COLLECTION_FIELD"
	EnvWriteModel           = "WRITE_MODEL"
	EnvOrderedInserts       = "ORDERED_INSERTS"
	EnvIDStrategy           = "ID_STRATEGY"
	EnvIDField              = "ID_FIELD"
	EnvIDOverwrite          = "ID_OVERWRITE"
	EnvMetadataField        = "METADATA_FIELD"
	EnvOmitMetadata         = "OMIT_METADATA"
	EnvTimestampField       = "TIMESTAMP_FIELD"
	EnvNonJSON              = "NON_JSON"
	EnvPayloadField         = "PAYLOAD_FIELD"
	EnvDeleteAttribute      = "DELETE_ATTRIBUTE"
	EnvDeleteValue          = "DELETE_VALUE"
	EnvDeleteOnEmptyPayload = "DELETE_ON_EMPTY_PAYLOAD"
	EnvWriteConcern         = "MONGODB_WRITE_CONCERN"
	EnvTimeout              = "MONGODB_TIMEOUT" // a Go duration, such as 30s
)

// ApplyEnv sets the fields of c whose environment variable is set to a
// non-empty value, so that the environment overrides a YAML file. lookup
// reads a variable; nil means os.LookupEnv. Booleans take the forms of
// strconv.ParseBool, the timeout a Go duration such as 30s, and the
// collections mapping topic=collection pairs separated by commas, which
// replace the whole map. It returns every value that does not parse,
// joined, each a *ConfigError; the fields of those values are left as
// they were.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	get := func(name string) (string, bool) {
		v, ok := lookup(name)
		return v, ok && v != ""
	}
	setString := func(name string, dst *string) {
		if v, ok := get(name); ok {
			*dst = v
		}
	}
	setBool := func(key, name string, dst *bool) {
		v, ok := get(name)
		if !ok {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, &ConfigError{Key: key, Env: name, Problem: fmt.Sprintf("%q is not a boolean: use true or false", v)})
			return
		}
		*dst = b
	}

	setString(EnvConnectionString, &c.ConnectionString)
	setString(EnvDatabase, &c.Database)
	setString(EnvCollection, &c.Collection)
	if v, ok := get(EnvCollections); ok {
		m, err := parseCollections(v)
		if err != nil {
			errs = append(errs, &ConfigError{Key: "collections", Env: EnvCollections, Problem: err.Error()})
		} else {
			c.Collections = m
		}
	}
	setString(EnvCollectionField, &c.CollectionField)

	if v, ok := get(EnvWriteModel); ok {
		c.WriteModel = WriteModel(v)
	}
	setBool("ordered_inserts", EnvOrderedInserts, &c.OrderedInserts)
	if v, ok := get(EnvIDStrategy); ok {
		c.IDStrategy = IDStrategy(v)
	}
	setString(EnvIDField, &c.IDField)
	setBool("id_overwrite", EnvIDOverwrite, &c.IDOverwrite)

	setString(EnvMetadataField, &c.MetadataField)
	setBool("omit_metadata", EnvOmitMetadata, &c.OmitMetadata)
	setString(EnvTimestampField, &c.TimestampField)
	if v, ok := get(EnvNonJSON); ok {
		c.NonJSON = NonJSONPolicy(v)
	}
	setString(EnvPayloadField, &c.PayloadField)

	setString(EnvDeleteAttribute, &c.DeleteAttribute)
	setString(EnvDeleteValue, &c.DeleteValue)
	setBool("delete_on_empty_payload", EnvDeleteOnEmptyPayload, &c.DeleteOnEmptyPayload)

	setString(EnvWriteConcern, &c.WriteConcern)
	if v, ok := get(EnvTimeout); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, &ConfigError{Key: "timeout", Env: EnvTimeout, Problem: fmt.Sprintf("%q is not a duration: use a form such as 30s or 1m", v)})
		} else {
			c.Timeout = d
		}
	}

	return errors.Join(errs...)
}

// parseCollections parses topic=collection pairs separated by commas.
func parseCollections(s string) (map[string]string, error) {
	m := make(map[string]string)
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		topic, coll, ok := strings.Cut(pair, "=")
		topic, coll = strings.TrimSpace(topic), strings.TrimSpace(coll)
		if !ok || topic == "" || coll == "" {
			return nil, fmt.Errorf("%q is not a topic=collection pair", pair)
		}
		if _, dup := m[topic]; dup {
			return nil, fmt.Errorf("topic %s is mapped twice", topic)
		}
		m[topic] = coll
	}
	return m, nil
}
