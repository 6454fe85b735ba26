package mongodb

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{ConnectionString: "mongodb://127.0.0.1:27017/", Database: "app", Collection: "events"}
}

func TestValidateAcceptsMinimalConfig(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{
		ConnectionString: "http://db:27017",
		Database:         "bad.name",
		Collections:      map[string]string{"/default/a": "system.users"},
		CollectionField:  "a..b",
		WriteModel:       "upsert",
		IDStrategy:       IDKey,
		IDField:          "unused",
		MetadataField:    "$meta",
		TimestampField:   "_id",
		NonJSON:          "drop",
		WriteConcern:     "0",
		Timeout:          -time.Second,
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}

	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("%v is not a *ConfigError", e)
		}
		keys = append(keys, ce.Key)
	}
	want := []string{"connection_string", "database", "collection", "collections", "collection_field", "write_model", "id_field", "metadata_field", "timestamp_field", "non_json", "write_concern", "timeout"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("problems with %v,\nwant %v\n(%v)", keys, want, err)
	}
}

func TestValidateChecksStrategyCombinations(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantKey string
	}{
		{"attribute without a name", func(c *Config) { c.IDStrategy = IDAttribute }, "id_field"},
		{"field without a path", func(c *Config) { c.IDStrategy = IDField }, "id_field"},
		{"unknown strategy", func(c *Config) { c.IDStrategy = "uuid" }, "id_strategy"},
		{"deletes with driver ids", func(c *Config) { c.IDStrategy = IDDriver; c.DeleteAttribute = "op" }, "id_strategy"},
		{"tombstones with field ids", func(c *Config) { c.IDStrategy = IDField; c.IDField = "id"; c.DeleteOnEmptyPayload = true }, "delete_on_empty_payload"},
		{"payload field same as metadata", func(c *Config) { c.PayloadField = "_danube" }, "payload_field"},
		{"empty topic in mapping", func(c *Config) { c.Collections = map[string]string{"": "x"} }, "collections"},
		{"collection with dollar", func(c *Config) { c.Collection = "a$b" }, "collection"},
		{"namespace too long", func(c *Config) { c.Collection = strings.Repeat("c", 252) }, "collection"},
		{"missing connection string", func(c *Config) { c.ConnectionString = "" }, "connection_string"},
		{"connection string without host", func(c *Config) { c.ConnectionString = "mongodb:///db" }, "connection_string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.wantKey {
				t.Errorf("Validate = %v, want a problem with %s", err, tt.wantKey)
			}
		})
	}
}

func TestDefaultsApplied(t *testing.T) {
	cfg := validConfig().withDefaults()
	if cfg.WriteModel != WriteInsert || cfg.IDStrategy != IDDeterministic || cfg.MetadataField != "_danube" ||
		cfg.NonJSON != NonJSONStore || cfg.PayloadField != "payload" || cfg.DeleteValue != "delete" || cfg.Timeout != 30*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	withIDField := validConfig()
	withIDField.IDField = "order-id"
	if got := withIDField.withDefaults().IDStrategy; got != IDAttribute {
		t.Errorf("IDStrategy with only IDField set = %s, want attribute", got)
	}
}

func TestUnacknowledgedWriteConcernRejected(t *testing.T) {
	for _, cfg := range []Config{
		{ConnectionString: "mongodb://db:27017/?w=0", Database: "app", Collection: "events"},
		{ConnectionString: "mongodb://db:27017/?retryWrites=true&W=0", Database: "app", Collection: "events"},
		{ConnectionString: "mongodb://db:27017/", Database: "app", Collection: "events", WriteConcern: "0"},
	} {
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "w=0") && !strings.Contains(err.Error(), "0 is not allowed") {
			t.Errorf("Validate(%s, write_concern %q) = %v, want w:0 rejected", cfg.ConnectionString, cfg.WriteConcern, err)
		}
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%s) accepted w:0", cfg.ConnectionString)
		}
	}
}

// TestValidateOrdersCollectionProblemsByTopic: the topics of a
// Collections map come out in sorted order, so that the same config gives
// the same error on every run.
func TestValidateOrdersCollectionProblemsByTopic(t *testing.T) {
	cfg := validConfig()
	cfg.Collections = map[string]string{"/default/d": "$d", "/default/b": "$b", "/default/a": "$a", "/default/c": "$c"}
	var first string
	for i := range 20 {
		err := cfg.Validate()
		if err == nil {
			t.Fatal("Validate = nil, want a problem per bad collection")
		}
		msg := err.Error()
		if i == 0 {
			first = msg
			a, b := strings.Index(msg, "/default/a"), strings.Index(msg, "/default/d")
			if a < 0 || b < 0 || a > b {
				t.Fatalf("Validate = %v, want /default/a named before /default/d", err)
			}
		} else if msg != first {
			t.Fatalf("run %d gave\n%v\nrun 0 gave\n%v", i, msg, first)
		}
	}
}
