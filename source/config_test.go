package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/config"
)

// env returns a lookup over the variables in pairs.
func env(pairs ...string) func(string) (string, bool) {
	m := make(map[string]string)
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "source.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFromEnvironmentWithDefaults(t *testing.T) {
	var cfg Config
	err := loadConfigInto(&cfg, "", env(
		"DANUBE_SERVICE_URL", "http://broker:6650",
		"CONNECTOR_NAME", "files",
		"DANUBE_TOPIC", "/default/lines",
		"POLL_INTERVAL_MS", "250",
		"CHECKPOINT_EVERY", "0",
		"MAX_RETRIES", "0",
	))
	if err != nil {
		t.Fatalf("load: %v", err)
	}

	o := cfg.Options()
	if o.Topic != "/default/lines" || o.ConnectorName != "files" || o.NonReliable {
		t.Errorf("Options = %+v, want topic /default/lines, connector files, reliable", o)
	}
	if o.PollInterval != 250*time.Millisecond {
		t.Errorf("PollInterval = %v, want 250ms", o.PollInterval)
	}
	if o.BatchSize != 256 || o.BatchTimeout != 100*time.Millisecond || o.DrainTimeout != 30*time.Second {
		t.Errorf("defaults: BatchSize %d, BatchTimeout %v, DrainTimeout %v", o.BatchSize, o.BatchTimeout, o.DrainTimeout)
	}
	if o.CheckpointEvery != NoCheckpointEvery || o.MaxRetries != NoRetries {
		t.Errorf("CheckpointEvery %d, MaxRetries %d: a configured 0 must mean none", o.CheckpointEvery, o.MaxRetries)
	}
	if _, err := o.withDefaults(); err != nil {
		t.Errorf("options from a valid configuration are invalid: %v", err)
	}
}

func TestConfigEnvironmentOverridesFile(t *testing.T) {
	path := writeFile(t, `
danube_service_url: http://file:6650
connector_name: files
danube_topic: /default/from_file
reliable_dispatch: false
batch_size: 10
routes:
  - topic: /default/audit
    partitions: 3
`)
	var cfg Config
	err := loadConfigInto(&cfg, "", env(EnvConfigPath, path, "BATCH_SIZE", "20"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	o := cfg.Options()
	if o.Topic != "/default/from_file" || !o.NonReliable {
		t.Errorf("Options = %+v, want the file's topic and non-reliable dispatch", o)
	}
	if o.BatchSize != 20 {
		t.Errorf("BatchSize = %d, want 20 from the environment", o.BatchSize)
	}
	if len(o.Routes) != 1 || o.Routes[0] != (Route{Topic: "/default/audit", Partitions: 3}) {
		t.Errorf("Routes = %+v, want /default/audit with 3 partitions, reliable", o.Routes)
	}
}

func TestConfigReportsEveryProblemByKey(t *testing.T) {
	path := writeFile(t, `
danube_topic: /default/lines
routes:
  - topic: /default/lines
  - partitions: 2
`)
	var cfg Config
	err := loadConfigInto(&cfg, path, env(
		"DANUBE_SERVICE_URL", "http://broker:6650",
		"CONNECTOR_NAME", "a/b",
		"DANUBE_TOKEN", "s3cret-token",
		"BATCH_SIZE", "abc",
		"POLL_INTERVAL_MS", "0",
		"LOG_LEVEL", "loud",
		"DANUBE_TLS_CERT_FILE", "client.pem",
	))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("load = %v, want an invalid configuration", err)
	}
	msg := err.Error()
	for _, key := range []string{
		"BATCH_SIZE", "POLL_INTERVAL_MS", "LOG_LEVEL", "CONNECTOR_NAME", "DANUBE_TLS_CERT_FILE",
		"routes[0].topic", "routes[1].topic",
	} {
		if !strings.Contains(msg, key) {
			t.Errorf("error does not name %s:\n%s", key, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("error shows the token:\n%s", msg)
	}
}

func TestConfigClientOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"plain", Config{}, 0},
		{"token", Config{Token: "t"}, 1},
		{"tls with CA", Config{TLSCAFile: "ca.pem"}, 1},
		{"mutual TLS", Config{TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}, 1},
		{"token in clear text", Config{Token: "t", Insecure: true}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(tc.cfg.ClientOptions(nil)); got != tc.want {
				t.Errorf("%d client options, want %d", got, tc.want)
			}
		})
	}
}
