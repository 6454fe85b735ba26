package main

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/mongodb"
	"github.com/danube-messaging/danube-connect-go/sink"
)

// Config is the binary's whole configuration: the sink runtime's
// settings, the binary's own, and the MongoDB connector's, read together
// by config.Load from one flat YAML file and the environment. Every YAML
// key is the environment variable's name in lower case.
type Config struct {
	sink.Config `yaml:",inline"`

	// ThroughputInterval is how often the binary logs a throughput line:
	// the messages written and failed since the previous line, and the
	// rate.
	ThroughputInterval time.Duration `env:"THROUGHPUT_LOG_INTERVAL_MS" unit:"ms" default:"30000" min:"1"`

	// MongoDB is the connector's configuration, read from the same flat
	// file and environment as the rest.
	MongoDB mongoConfig `yaml:",inline"`
}

// mongoConfig is mongodb.Config with the tags of package config, so that
// its settings are read, checked and described like the runtime's. Its
// fields are those of mongodb.Config, in the same order and with the same
// types, or the conversion in Config.mongo does not compile. The tests
// check that its variables are those that mongodb.Config.ApplyEnv reads,
// and its defaults those of package mongodb.
type mongoConfig struct {
	ConnectionString string            `env:"MONGODB_CONNECTION_STRING" required:"true" secret:"true"`
	Database         string            `env:"MONGODB_DATABASE" required:"true"`
	Collection       string            `env:"MONGODB_COLLECTION" required:"true"`
	Collections      map[string]string `env:"MONGODB_COLLECTIONS"`
	CollectionField  string            `env:"MONGODB_COLLECTION_FIELD"`

	WriteModel     mongodb.WriteModel `env:"WRITE_MODEL" default:"insert"`
	OrderedInserts bool               `env:"ORDERED_INSERTS"`

	// IDStrategy has no default tag: left empty it becomes deterministic,
	// or attribute when ID_FIELD is set, as mongodb.New decides.
	IDStrategy  mongodb.IDStrategy `env:"ID_STRATEGY"`
	IDField     string             `env:"ID_FIELD"`
	IDOverwrite bool               `env:"ID_OVERWRITE"`

	MetadataField  string `env:"METADATA_FIELD" default:"_danube"`
	OmitMetadata   bool   `env:"OMIT_METADATA"`
	TimestampField string `env:"TIMESTAMP_FIELD"`

	NonJSON      mongodb.NonJSONPolicy `env:"NON_JSON" default:"store"`
	PayloadField string                `env:"PAYLOAD_FIELD" default:"payload"`

	DeleteAttribute      string `env:"DELETE_ATTRIBUTE"`
	DeleteValue          string `env:"DELETE_VALUE" default:"delete"`
	DeleteOnEmptyPayload bool   `env:"DELETE_ON_EMPTY_PAYLOAD"`

	WriteConcern string        `env:"MONGODB_WRITE_CONCERN"`
	Timeout      time.Duration `env:"MONGODB_TIMEOUT" default:"30s"`
}

// mongo returns the MongoDB connector's configuration.
func (c *Config) mongo() mongodb.Config {
	return mongodb.Config(c.MongoDB)
}

// Validate reports the problems that span fields, of the runtime and of
// the MongoDB connector; config.Load calls it once every field was read.
// The connector's problems are named by their YAML key here, the
// variable's name in lower case, so that a problem names the variable or
// the file's key and line, wherever the value came from.
//
// mongodb.Config.Validate reports the problems of MONGODB_COLLECTIONS in
// the random order of a Go map, so the problems of each key are sorted by
// message, for the list to be the same on every run. The keys keep the
// order of their first problem.
func (c *Config) Validate(p *config.Problems) {
	c.Config.Validate(p)

	var keys []string
	messages := make(map[string][]string)
	for _, err := range unjoin(c.mongo().Validate()) {
		key, message := "mongodb", err.Error()
		var ce *mongodb.ConfigError
		if errors.As(err, &ce) && ce.Env != "" {
			key, message = strings.ToLower(ce.Env), ce.Problem
		}
		if _, seen := messages[key]; !seen {
			keys = append(keys, key)
		}
		messages[key] = append(messages[key], message)
	}

	for _, key := range keys {
		slices.Sort(messages[key])
		for _, message := range messages[key] {
			p.Add(key, "%s", message)
		}
	}
}

// unjoin returns the errors that errors.Join joined into err.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// loadConfig reads the configuration from the YAML file at path, when path
// is not empty, and from the environment through lookup, which overrides
// the file. An empty path means the file named by CONNECTOR_CONFIG_PATH,
// if set. It returns every problem at once in a *config.Error.
func loadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	if path == "" {
		if p, ok := lookup(sink.EnvConfigPath); ok {
			path = strings.TrimSpace(p)
		}
	}
	var cfg Config
	err := config.Load(&cfg, config.Source{File: path, Lookup: lookup})
	return cfg, err
}
