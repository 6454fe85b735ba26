package sink

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/config"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func writeYAML(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sink.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemsOf returns the problems of a configuration error as strings.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v (%T), want a *config.Error", err, err)
	}
	out := make([]string, len(cerr.Problems))
	for i, p := range cerr.Problems {
		out[i] = p.String()
	}
	return out
}

func TestLoadConfigFromEnvironment(t *testing.T) {
	cfg, err := loadConfig("", lookup(map[string]string{
		"DANUBE_SERVICE_URL": "http://broker:6650",
		"CONNECTOR_NAME":     "orders-to-mongo",
		"DANUBE_TOPIC":       "/default/orders, /default/refunds",
		"SUBSCRIPTION_TYPE":  "key_shared",
		"KEY_FILTERS":        "eu-*,us-*",
		"MAX_RETRIES":        "5",
		"RETRY_BACKOFF_MS":   "250",
		"BATCH_SIZE":         "500",
		"BATCH_TIMEOUT_MS":   "20",
		"METRICS_PORT":       "9100",
		"LOG_LEVEL":          "debug",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"MaxRetries", cfg.MaxRetries, 5},
		{"RetryBackoff", cfg.RetryBackoff, 250 * time.Millisecond},
		{"MaxBackoff (default)", cfg.MaxBackoff, 30 * time.Second},
		{"BatchSize", cfg.BatchSize, 500},
		{"BatchTimeout", cfg.BatchTimeout, 20 * time.Millisecond},
		{"DrainTimeout (default)", cfg.DrainTimeout, 30 * time.Second},
		{"MetricsPort", cfg.MetricsPort, 9100},
		{"LogLevel", cfg.LogLevel, "debug"},
		{"SubscriptionType", cfg.SubscriptionType, KeyShared},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	routes := cfg.resolveRoutes()
	if len(routes) != 2 {
		t.Fatalf("%d routes, want 2", len(routes))
	}
	host, _ := os.Hostname()
	want := Route{
		Topic:            "/default/refunds",
		SubscriptionName: "orders-to-mongo", // the connector's name
		SubscriptionType: KeyShared,
		ConsumerName:     "orders-to-mongo-" + host, // one per replica on a shared type
		KeyFilters:       []string{"eu-*", "us-*"},
	}
	if !reflect.DeepEqual(routes[1], want) {
		t.Errorf("route 1 = %+v, want %+v", routes[1], want)
	}
}

func TestLoadConfigEnvOverridesYAML(t *testing.T) {
	path := writeYAML(t, `
danube_service_url: http://from-file:6650
connector_name: file-sink
subscription_name: file-sub
batch_size: 100
dead_letter_topic: /default/dlq
routes:
  - topic: /default/orders
  - topic: /default/payments
    subscription_name: payments-sub
    subscription_type: Failover
    dead_letter_topic: /default/payments-dlq
`)
	cfg, err := loadConfig(path, lookup(map[string]string{
		"DANUBE_SERVICE_URL": "http://from-env:6650",
		"BATCH_SIZE":         "300",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.ServiceURL != "http://from-env:6650" || cfg.BatchSize != 300 {
		t.Errorf("ServiceURL, BatchSize = %q, %d; want the environment's", cfg.ServiceURL, cfg.BatchSize)
	}
	if cfg.ConnectorName != "file-sink" {
		t.Errorf("ConnectorName = %q, want the file's", cfg.ConnectorName)
	}
	routes := cfg.resolveRoutes()
	want := []Route{
		{Topic: "/default/orders", SubscriptionName: "file-sub", SubscriptionType: Exclusive, ConsumerName: "file-sink", DeadLetterTopic: "/default/dlq"},
		{Topic: "/default/payments", SubscriptionName: "payments-sub", SubscriptionType: Failover, ConsumerName: "file-sink", DeadLetterTopic: "/default/payments-dlq"},
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("routes:\n%+v\nwant:\n%+v", routes, want)
	}
}

func TestLoadConfigFindsFileThroughEnvironment(t *testing.T) {
	path := writeYAML(t, "danube_service_url: u\nconnector_name: c\ndanube_topic: /default/t\n")
	cfg, err := loadConfig("", lookup(map[string]string{EnvConfigPath: path}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.ConnectorName != "c" {
		t.Errorf("ConnectorName = %q, want the file's c", cfg.ConnectorName)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	path := writeYAML(t, `
connector_name: sink
batch_timeout_ms: soon
routes:
  - topic: /default/orders
    subscription_type: Queue
  - topic: orders
    key_filters: [eu-*]
  - topic: /default/orders
`)
	_, err := loadConfig(path, lookup(map[string]string{
		"BATCH_SIZE":           "abc",
		"MAX_RETRIES":          "500",
		"DANUBE_TLS_CERT_FILE": "/etc/cert.pem",
		"POISON_POLICY":        "dead_letter",
		"DANUBE_TOKEN":         "s3cret-token",
	}))
	got := problemsOf(t, err)
	want := []string{
		`batch_timeout_ms (line 3): must be a positive number of milliseconds, got "soon"`,
		`routes[0].subscription_type (line 6): must be Exclusive, Shared, Failover or KeyShared, got "Queue"`,
		`BATCH_SIZE: must be a positive integer, got "abc"`,
		`DANUBE_SERVICE_URL: missing: set DANUBE_SERVICE_URL, or danube_service_url in the configuration file`,
		`MAX_RETRIES: must be an integer from 0 to 100, got "500"`,
		`DANUBE_TLS_CERT_FILE: mutual TLS needs both DANUBE_TLS_CERT_FILE and DANUBE_TLS_KEY_FILE`,
		`DANUBE_ADMIN_URL: missing: the subscription policy settings need the broker's admin URL`,
		`POISON_POLICY: dead_letter needs a dead-letter topic on every route`,
		`routes[1].topic (line 7): danube: validate topic orders: invalid topic name "orders": the name must start with "/" as in /namespace/topic`,
		`routes[1].key_filters (line 8): key filters need the KeyShared subscription type, not Exclusive`,
		`routes[2].topic (line 9): repeats the topic and subscription of routes[0]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "s3cret-token") {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestLoadConfigNeedsTopicOrRoutes(t *testing.T) {
	base := map[string]string{"DANUBE_SERVICE_URL": "u", "CONNECTOR_NAME": "c"}
	_, err := loadConfig("", lookup(base))
	if got := problemsOf(t, err); len(got) != 1 || !strings.HasPrefix(got[0], "DANUBE_TOPIC: missing") {
		t.Errorf("problems %q, want DANUBE_TOPIC missing", got)
	}

	path := writeYAML(t, "routes:\n  - topic: /default/a\n")
	base["DANUBE_TOPIC"] = "/default/b"
	_, err = loadConfig(path, lookup(base))
	if got := problemsOf(t, err); len(got) != 1 || got[0] != "DANUBE_TOPIC: set either it or routes, not both" {
		t.Errorf("problems %q, want DANUBE_TOPIC and routes rejected together", got)
	}
}

func TestConfigKeepsTokenSecret(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.secret"
	cfg := DefaultConfig()
	cfg.Token = token
	for _, s := range config.Describe(&cfg) {
		if strings.Contains(s.Value, token) {
			t.Errorf("Describe shows the token in %s", s.Key)
		}
	}
	if text := fmt.Sprint(config.LogValue(cfg)); strings.Contains(text, token) {
		t.Errorf("LogValue shows the token: %s", text)
	}
	_, err := New(newTestConn(), cfg, Options{})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("New = %v, want an error without the token", err)
	}
}

func TestNewChecksConfigBuiltInCode(t *testing.T) {
	_, err := New(newTestConn(), Config{ServiceURL: "u", ConnectorName: "c", DanubeTopic: []string{"/default/t"}}, Options{})
	got := problemsOf(t, err)
	for _, want := range []string{
		`BATCH_SIZE: must be a positive integer, got "0"`,
		`DRAIN_TIMEOUT_MS: must be a positive number of milliseconds, got "0"`,
	} {
		found := false
		for _, p := range got {
			found = found || p == want
		}
		if !found {
			t.Errorf("problems %q lack %q", got, want)
		}
	}

	cfg := DefaultConfig()
	cfg.ServiceURL, cfg.ConnectorName, cfg.DanubeTopic = "u", "c", []string{"/default/t"}
	if _, err := New(newTestConn(), cfg, Options{}); err != nil {
		t.Errorf("New with DefaultConfig: %v", err)
	}
	if _, err := New(nil, cfg, Options{}); err == nil {
		t.Error("New accepted a nil connector")
	}
}

func TestSubscriptionTypeNames(t *testing.T) {
	tests := map[string]SubscriptionType{
		"Exclusive": Exclusive, "shared": Shared, "FAILOVER": Failover,
		"KeyShared": KeyShared, "key_shared": KeyShared, "Key-Shared": KeyShared,
	}
	for text, want := range tests {
		var got SubscriptionType
		if err := got.UnmarshalText([]byte(text)); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
	var got SubscriptionType
	if err := got.UnmarshalText([]byte("Queue")); err == nil {
		t.Error("UnmarshalText(Queue) succeeded")
	}
}
