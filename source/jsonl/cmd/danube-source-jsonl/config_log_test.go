package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/danube-messaging/danube-connect-go/otel"
)

// TestConfigurationLogShowsFalseAndZero loads a configuration that sets
// JSONL_FOLLOW and JSONL_POSITION_ATTRIBUTES to false and MAX_RETRIES to
// 0 and leaves JSONL_KEY_FIELD empty, logs it through the program's own
// logger, and expects each setting as it is.
func TestConfigurationLogShowsFalseAndZero(t *testing.T) {
	env := map[string]string{
		"DANUBE_SERVICE_URL":        "http://127.0.0.1:6650",
		"DANUBE_TOPIC":              "/default/events",
		"CONNECTOR_NAME":            "events",
		"JSONL_FILE":                "events.jsonl",
		"JSONL_FOLLOW":              "false",
		"JSONL_POSITION_ATTRIBUTES": "false",
		"MAX_RETRIES":               "0",
	}
	cfg, err := loadConfig(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	var out bytes.Buffer
	log, err := otel.NewLogger("info", &out)
	if err != nil {
		t.Fatal(err)
	}

	logConfiguration(log, cfg)

	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	want := map[string]any{
		"jsonl_follow":              false,
		"jsonl_position_attributes": false,
		"max_retries":               float64(0),
		"jsonl_key_field":           "",
		"jsonl_max_line_bytes":      float64(1048576),
	}
	for key, value := range want {
		got, ok := line.Config[key]
		if !ok {
			t.Errorf("config.%s is not logged: %s", key, out.String())
			continue
		}
		if got != value {
			t.Errorf("config.%s = %#v, want %#v", key, got, value)
		}
	}
}
