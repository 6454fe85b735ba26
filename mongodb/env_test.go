package mongodb

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestApplyEnvSetsEveryField(t *testing.T) {
	env := map[string]string{
		EnvConnectionString:     "mongodb://db:27017/",
		EnvDatabase:             "app",
		EnvCollection:           "events",
		EnvCollections:          " /default/orders=orders , /default/users=users ",
		EnvCollectionField:      "meta.kind",
		EnvWriteModel:           "replace",
		EnvOrderedInserts:       "true",
		EnvIDStrategy:           "field",
		EnvIDField:              "order.id",
		EnvIDOverwrite:          "1",
		EnvMetadataField:        "meta",
		EnvOmitMetadata:         "false",
		EnvTimestampField:       "published",
		EnvNonJSON:              "reject",
		EnvPayloadField:         "body",
		EnvDeleteAttribute:      "x-operation",
		EnvDeleteValue:          "remove",
		EnvDeleteOnEmptyPayload: "TRUE",
		EnvWriteConcern:         "majority",
		EnvTimeout:              "5s",
	}
	var cfg Config
	if err := cfg.ApplyEnv(mapLookup(env)); err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	want := Config{
		ConnectionString:     "mongodb://db:27017/",
		Database:             "app",
		Collection:           "events",
		Collections:          map[string]string{"/default/orders": "orders", "/default/users": "users"},
		CollectionField:      "meta.kind",
		WriteModel:           WriteReplace,
		OrderedInserts:       true,
		IDStrategy:           IDField,
		IDField:              "order.id",
		IDOverwrite:          true,
		MetadataField:        "meta",
		TimestampField:       "published",
		NonJSON:              NonJSONReject,
		PayloadField:         "body",
		DeleteAttribute:      "x-operation",
		DeleteValue:          "remove",
		DeleteOnEmptyPayload: true,
		WriteConcern:         "majority",
		Timeout:              5 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ApplyEnv gave\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestApplyEnvKeepsUnsetFields(t *testing.T) {
	cfg := Config{Database: "from-yaml", OrderedInserts: true}
	if err := cfg.ApplyEnv(mapLookup(map[string]string{EnvDatabase: "", EnvCollection: "events"})); err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "from-yaml" || !cfg.OrderedInserts || cfg.Collection != "events" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestApplyEnvNamesBadValues(t *testing.T) {
	var cfg Config
	err := cfg.ApplyEnv(mapLookup(map[string]string{
		EnvOrderedInserts: "maybe",
		EnvTimeout:        "30",
		EnvCollections:    "orders",
	}))
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("%v is not a *ConfigError", e)
		}
		names = append(names, ce.Env)
	}
	want := []string{EnvCollections, EnvOrderedInserts, EnvTimeout}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("problems with %v, want %v (%v)", names, want, err)
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
