package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/mongodb"
)

// envOf returns a lookup function over vars.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// validEnv returns the smallest environment that configures the binary.
func validEnv() map[string]string {
	return map[string]string{
		"DANUBE_SERVICE_URL":        "http://127.0.0.1:6650",
		"DANUBE_TOPIC":              "/default/orders",
		"CONNECTOR_NAME":            "orders-to-mongodb",
		"MONGODB_CONNECTION_STRING": "mongodb://127.0.0.1:27017/",
		"MONGODB_DATABASE":          "shop",
		"MONGODB_COLLECTION":        "orders",
	}
}

// problemsOf returns the problems of a *config.Error, failing the test
// for any other error.
func problemsOf(t *testing.T, err error) []config.Problem {
	t.Helper()
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v (%T), want a *config.Error", err, err)
	}
	return cerr.Problems
}

// TestMongoSettingsMatchApplyEnv checks that each setting of mongoConfig
// has the variable that mongodb.Config.ApplyEnv reads into the field of
// the same name, so that the binary and the package document the same
// names.
func TestMongoSettingsMatchApplyEnv(t *testing.T) {
	mirror := reflect.TypeFor[mongoConfig]()
	for i := range mirror.NumField() {
		f := mirror.Field(i)
		env := f.Tag.Get("env")
		if env == "" {
			t.Errorf("mongoConfig.%s has no env tag", f.Name)
			continue
		}
		var sample string
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			sample = "7s"
		case f.Type.Kind() == reflect.Bool:
			sample = "true"
		case f.Type.Kind() == reflect.Map:
			sample = "/default/a=b"
		default:
			sample = "sample"
		}

		var c mongodb.Config
		if err := c.ApplyEnv(envOf(map[string]string{env: sample})); err != nil {
			t.Errorf("%s=%s: ApplyEnv: %v", env, sample, err)
			continue
		}
		if reflect.ValueOf(c).FieldByName(f.Name).IsZero() {
			t.Errorf("mongodb.Config.ApplyEnv does not read %s into the field %s", env, f.Name)
		}
	}
}

// TestMongoDefaultsMatchPackage checks the default tags of mongoConfig
// against the defaults of package mongodb.
func TestMongoDefaultsMatchPackage(t *testing.T) {
	var cfg Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.mongo()
	want := mongodb.Config{
		WriteModel:    mongodb.DefaultWriteModel,
		MetadataField: mongodb.DefaultMetadataField,
		NonJSON:       mongodb.DefaultNonJSON,
		PayloadField:  mongodb.DefaultPayloadField,
		DeleteValue:   mongodb.DefaultDeleteValue,
		Timeout:       mongodb.DefaultTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults of mongoConfig give %+v, want %+v", got, want)
	}
}

func TestLoadReadsEnvironment(t *testing.T) {
	env := validEnv()
	env["BATCH_SIZE"] = "250"
	env["BATCH_TIMEOUT_MS"] = "40"
	env["ORDERED_INSERTS"] = "true"
	env["ID_FIELD"] = "order_id"
	env["ID_STRATEGY"] = "field"
	env["TIMESTAMP_FIELD"] = "published_at"
	env["MONGODB_TIMEOUT"] = "5s"

	cfg, err := loadConfig("", envOf(env))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.BatchSize != 250 || cfg.BatchTimeout != 40*time.Millisecond {
		t.Errorf("batch size %d and timeout %v, want 250 and 40ms", cfg.BatchSize, cfg.BatchTimeout)
	}
	m := cfg.mongo()
	if !m.OrderedInserts || m.IDField != "order_id" || m.IDStrategy != mongodb.IDField ||
		m.TimestampField != "published_at" || m.Timeout != 5*time.Second || m.Database != "shop" {
		t.Errorf("MongoDB settings %+v do not follow the environment", m)
	}
	if cfg.MaxRetries != 3 || cfg.MetricsPort != 9090 || m.MetadataField != "_danube" {
		t.Errorf("defaults not applied: max retries %d, metrics port %d, metadata field %q", cfg.MaxRetries, cfg.MetricsPort, m.MetadataField)
	}
}

// TestLoadReportsEveryProblemAtOnce sets many wrong values, of the
// runtime and of the connector, and finds each named by its variable in
// one error that shows no password.
func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	env := validEnv()
	delete(env, "DANUBE_TOPIC")
	delete(env, "MONGODB_DATABASE")
	env["BATCH_SIZE"] = "abc"
	env["ORDERED_INSERTS"] = "maybe"
	env["WRITE_MODEL"] = "upsert"
	env["MONGODB_CONNECTION_STRING"] = "ftp://admin:hunter2secret@db.example:27017/"
	env["MONGODB_WRITE_CONCERN"] = "0"
	env["SUBSCRIPTION_TYPE"] = "Queue"

	_, err := loadConfig("", envOf(env))
	if lifecycle.ExitCode(err) != lifecycle.ExitInvalidConfig {
		t.Errorf("exit code %d for an invalid configuration, want %d", lifecycle.ExitCode(err), lifecycle.ExitInvalidConfig)
	}
	keys := map[string]string{}
	for _, p := range problemsOf(t, err) {
		keys[p.Key] = p.Message
	}
	for _, want := range []string{
		"DANUBE_TOPIC", "MONGODB_DATABASE", "BATCH_SIZE", "ORDERED_INSERTS", "WRITE_MODEL",
		"MONGODB_CONNECTION_STRING", "MONGODB_WRITE_CONCERN", "SUBSCRIPTION_TYPE",
	} {
		if _, ok := keys[want]; !ok {
			t.Errorf("no problem names %s; the problems: %v", want, keys)
		}
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("the error shows the connection string's password:\n%v", err)
	}
}

// TestLoadReportsEveryProblemOfKey sets several bad values in a list and
// in a map setting, and expects each named, in the same order on every
// run, so that a user fixing one problem does not meet the next on the
// following run.
func TestLoadReportsEveryProblemOfKey(t *testing.T) {
	env := validEnv()
	env["DANUBE_TOPIC"] = "default/first,/default/sec.ond"
	env["MONGODB_COLLECTIONS"] = "/default/a=bad$one,/default/b=bad$two,/default/c=bad$three,/default/d=bad$four"

	var first string
	for run := range 20 {
		_, err := loadConfig("", envOf(env))
		var all strings.Builder
		for _, p := range problemsOf(t, err) {
			all.WriteString(p.String() + "\n")
		}
		if run == 0 {
			first = all.String()
			continue
		}
		if all.String() != first {
			t.Fatalf("run %d listed the problems in another order:\n%s\nthe first run:\n%s", run, all.String(), first)
		}
	}

	for _, want := range []string{"default/first", "sec.ond", "bad$one", "bad$two", "bad$three", "bad$four"} {
		if !strings.Contains(first, want) {
			t.Errorf("no problem names %q; the problems:\n%s", want, first)
		}
	}
	a, b := strings.Index(first, "bad$one"), strings.Index(first, "bad$two")
	if a > b {
		t.Errorf("the problems of /default/a come after those of /default/b:\n%s", first)
	}
}

// TestLoadEnvOverridesFile reads a YAML file with flat keys, the
// variables' names in lower case, and lets the environment override it.
func TestLoadEnvOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.yaml")
	yaml := `danube_service_url: http://broker:6650
danube_topic: [/default/orders, /default/refunds]
connector_name: from-file
batch_size: 10
mongodb_connection_string: mongodb://mongo:27017/
mongodb_database: from_file
mongodb_collection: orders
mongodb_collections:
  /default/refunds: refunds
ordered_inserts: true
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := loadConfig(path, envOf(map[string]string{"MONGODB_DATABASE": "from_env", "BATCH_SIZE": "20"}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	m := cfg.mongo()
	if m.Database != "from_env" || cfg.BatchSize != 20 {
		t.Errorf("database %q and batch size %d, want the environment's from_env and 20", m.Database, cfg.BatchSize)
	}
	if m.Collection != "orders" || !m.OrderedInserts || m.Collections["/default/refunds"] != "refunds" || len(cfg.DanubeTopic) != 2 {
		t.Errorf("settings of the file not applied: %+v, topics %v", m, cfg.DanubeTopic)
	}

	// The file is also found through CONNECTOR_CONFIG_PATH.
	cfg, err = loadConfig("", envOf(map[string]string{"CONNECTOR_CONFIG_PATH": path}))
	if err != nil {
		t.Fatalf("loadConfig through CONNECTOR_CONFIG_PATH: %v", err)
	}
	if cfg.mongo().Database != "from_file" {
		t.Errorf("database %q, want the file's from_file", cfg.mongo().Database)
	}
}

// TestLoadNamesFileKeyAndLine finds the problems of values from the file
// named by their YAML key and line, connector problems included.
func TestLoadNamesFileKeyAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.yaml")
	yaml := `danube_service_url: http://broker:6650
danube_topic: /default/orders
connector_name: c
mongodb_connection_string: mongodb://mongo:27017/
mongodb_database: shop
mongodb_collection: orders
write_model: upsert
batch_sise: 10
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path, envOf(nil))
	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.String())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{"write_model (line 7):", "batch_sise (line 8):"} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
}

// TestLoadInvalidYAMLReportsNoMissing gives a file with a syntax error on
// its last line, after every required key. The problems must be the
// syntax error and the environment's invalid value, with no required key
// reported as missing, whether the sink or the MongoDB connector checks it.
func TestLoadInvalidYAMLReportsNoMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.yaml")
	yaml := `danube_service_url: http://broker:6650
danube_topic: /default/orders
connector_name: c
mongodb_connection_string: mongodb://mongo:27017/
mongodb_database: shop
mongodb_collection: orders
batch_size: [1
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err := loadConfig(path, envOf(map[string]string{"BATCH_TIMEOUT_MS": "soon"}))

	var got []string
	for _, p := range problemsOf(t, err) {
		got = append(got, p.String())
	}
	text := strings.Join(got, "\n")
	if len(got) != 2 {
		t.Fatalf("got %d problems, want the syntax error and BATCH_TIMEOUT_MS:\n%s", len(got), text)
	}
	if want := path + " (line 7): is not valid YAML"; !strings.HasPrefix(got[0], want) {
		t.Errorf("first problem %q, want one starting %q", got[0], want)
	}
	if want := "BATCH_TIMEOUT_MS: "; !strings.HasPrefix(got[1], want) {
		t.Errorf("second problem %q, want one starting %q", got[1], want)
	}
	if strings.Contains(text, "missing") {
		t.Errorf("problems report a missing setting that the file may hold:\n%s", text)
	}
}

func TestRunRejectsInvalidConfiguration(t *testing.T) {
	env := validEnv()
	env["BATCH_SIZE"] = "0"
	env["MONGODB_CONNECTION_STRING"] = "mongodb://reader:p%40ss-secret@/"

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, envOf(env), &stdout, &stderr)
	if code != lifecycle.ExitInvalidConfig {
		t.Errorf("exit code %d, want %d", code, lifecycle.ExitInvalidConfig)
	}
	for _, want := range []string{"BATCH_SIZE", "MONGODB_CONNECTION_STRING"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("output does not name %s:\n%s", want, stderr.String())
		}
	}
	for _, secret := range []string{"p%40ss-secret", "p@ss-secret"} {
		if strings.Contains(stderr.String()+stdout.String(), secret) {
			t.Errorf("output shows the password %q:\n%s", secret, stderr.String())
		}
	}
}

// TestRunKeepsSecretsOutOfConfigErrors runs the program on configurations
// whose secret settings are wrong in ways a user can plausibly get them
// wrong, and looks for the planted secret in everything it prints.
//
//   - An unquoted token or password that starts with '*' is a YAML alias,
//     and yaml.v3 names it in its error ("unknown anchor '...'").
//   - A connection string with a mistyped scheme and a '?' in its
//     password must still be redacted when the error shows it.
func TestRunKeepsSecretsOutOfConfigErrors(t *testing.T) {
	const secret = "Zq9SECRETx"
	tests := []struct {
		name string
		file string
		env  map[string]string
	}{
		{name: "token starting with * in the file", file: "danube_token: *" + secret + "\n"},
		{name: "connection string starting with * in the file", file: "mongodb_connection_string: *" + secret + "\n"},
		{name: "connection string as a key in the file", file: "mongodb_connection_string:\nmongodb://app:" + secret + "@db/: x\n"},
		{name: "mistyped scheme, ? in the password", env: map[string]string{"MONGODB_CONNECTION_STRING": "mongdb://app:" + secret + "?x@db:27017/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			var args []string
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "sink.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = []string{"-config", path}
				if strings.HasPrefix(tt.file, "mongodb_connection_string") {
					delete(env, "MONGODB_CONNECTION_STRING")
				}
			}

			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, envOf(env), &stdout, &stderr)
			if code != lifecycle.ExitInvalidConfig {
				t.Errorf("exit code %d, want %d", code, lifecycle.ExitInvalidConfig)
			}
			out := stdout.String() + stderr.String()
			if strings.Contains(out, secret) {
				t.Errorf("output shows the secret %q:\n%s", secret, out)
			}
			if tt.file != "" && !strings.Contains(out, "sink.yaml") {
				t.Errorf("output does not name the file:\n%s", out)
			}
		})
	}
}

func TestRunRejectsArguments(t *testing.T) {
	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, envOf(validEnv()), &stdout, &stderr); code != lifecycle.ExitInvalidConfig {
			t.Errorf("run %v: exit code %d, want %d", args, code, lifecycle.ExitInvalidConfig)
		}
		if !strings.Contains(stderr.String(), "-help") {
			t.Errorf("run %v: the message does not point to -help:\n%s", args, stderr.String())
		}
	}
}

func TestRunHelpExitsZero(t *testing.T) {
	for _, flag := range []string{"-h", "-help", "--help"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{flag}, envOf(nil), &stdout, &stderr); code != lifecycle.ExitOK {
			t.Errorf("%s: exit code %d, want 0", flag, code)
		}
		if !strings.Contains(stdout.String(), "MONGODB_CONNECTION_STRING") {
			t.Errorf("%s: the help on standard output lists no settings", flag)
		}
	}
}
