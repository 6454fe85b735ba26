package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// color is a type read through UnmarshalText.
type color int

func (c *color) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "red":
		*c = 1
	case "blue":
		*c = 2
	default:
		return errors.New("must be red or blue")
	}
	return nil
}

func (c color) MarshalText() ([]byte, error) {
	return []byte([]string{"", "red", "blue"}[c]), nil
}

type route struct {
	Topic   string   `yaml:"topic" required:"true"`
	Weight  int      `yaml:"weight" default:"5" min:"1" max:"10"`
	Filters []string `yaml:"key_filters"`
}

type common struct {
	URL   string `env:"TEST_URL" yaml:"url" required:"true"`
	Token string `env:"TEST_TOKEN" yaml:"token" secret:"true"`
}

type testConfig struct {
	common
	Name     string            `env:"TEST_NAME" yaml:"name" default:"sink"`
	Size     int               `env:"TEST_SIZE" yaml:"size" default:"1000" min:"1"`
	Retries  uint              `env:"TEST_RETRIES" yaml:"retries" default:"3" max:"100"`
	Backoff  time.Duration     `env:"TEST_BACKOFF_MS" yaml:"backoff_ms" unit:"ms" default:"1000" min:"0"`
	Drain    time.Duration     `env:"TEST_DRAIN" yaml:"drain" default:"30s"`
	Verbose  bool              `env:"TEST_VERBOSE" yaml:"verbose"`
	Mode     string            `env:"TEST_MODE" yaml:"mode" oneof:"fast|safe" default:"safe"`
	Color    color             `env:"TEST_COLOR" yaml:"color"`
	Tags     []string          `env:"TEST_TAGS" yaml:"tags"`
	Labels   map[string]string `env:"TEST_LABELS" yaml:"labels"`
	Routes   []route           `yaml:"routes"`
	Nested   nested            `yaml:"nested"`
	validate func(c *testConfig, p *Problems)
}

type nested struct {
	Level int `env:"TEST_LEVEL" yaml:"level" default:"2"`
}

func (c *testConfig) Validate(p *Problems) {
	if c.validate != nil {
		c.validate(c, p)
	}
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problems returns the problems of err as strings, failing the test when
// err is not a *Error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load returned %v (%T), want a *config.Error", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	out := make([]string, len(cerr.Problems))
	for i, p := range cerr.Problems {
		out[i] = p.String()
	}
	return out
}

func TestLoadAppliesDefaults(t *testing.T) {
	var cfg testConfig
	err := Load(&cfg, Source{Lookup: env(map[string]string{"TEST_URL": "http://broker:6650"})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", cfg.Name, "sink"},
		{"Size", cfg.Size, 1000},
		{"Retries", cfg.Retries, uint(3)},
		{"Backoff", cfg.Backoff, time.Second},
		{"Drain", cfg.Drain, 30 * time.Second},
		{"Mode", cfg.Mode, "safe"},
		{"Nested.Level", cfg.Nested.Level, 2},
		{"URL", cfg.URL, "http://broker:6650"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadKeepsPresetFields(t *testing.T) {
	cfg := testConfig{Size: 7}
	cfg.URL = "http://preset"
	if err := Load(&cfg, Source{Lookup: env(nil)}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Size != 7 || cfg.URL != "http://preset" {
		t.Errorf("Size, URL = %d, %q; want the preset 7, http://preset", cfg.Size, cfg.URL)
	}
}

func TestLoadEnvOverridesFile(t *testing.T) {
	path := writeFile(t, `
url: http://from-file
name: file-name
size: 10
backoff_ms: 250
verbose: true
tags: [a, b]
labels: {team: data}
nested:
  level: 4
`)
	var cfg testConfig
	err := Load(&cfg, Source{File: path, Lookup: env(map[string]string{
		"TEST_NAME":   "env-name",
		"TEST_SIZE":   " 20 ",
		"TEST_LEVEL":  "9",
		"TEST_TAGS":   "x, y ,,z",
		"TEST_LABELS": "team=ops,tier=gold",
		"TEST_MODE":   "   ", // blank: unset
	})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"URL from the file", cfg.URL, "http://from-file"},
		{"Name from the environment", cfg.Name, "env-name"},
		{"Size from the environment", cfg.Size, 20},
		{"Backoff from the file", cfg.Backoff, 250 * time.Millisecond},
		{"Verbose from the file", cfg.Verbose, true},
		{"Mode default, blank env ignored", cfg.Mode, "safe"},
		{"Nested.Level from the environment", cfg.Nested.Level, 9},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(cfg.Tags, []string{"x", "y", "z"}) {
		t.Errorf("Tags = %q, want [x y z]", cfg.Tags)
	}
	if !reflect.DeepEqual(cfg.Labels, map[string]string{"team": "ops", "tier": "gold"}) {
		t.Errorf("Labels = %v", cfg.Labels)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	path := writeFile(t, `
size: 0
retries: many
Color: red
drain: 10
routes:
  - topic: /default/a
    weight: 11
  - weight: 2
`)
	var cfg testConfig
	err := Load(&cfg, Source{File: path, Lookup: env(map[string]string{
		"TEST_BACKOFF_MS": "abc",
		"TEST_VERBOSE":    "maybe",
		"TEST_MODE":       "slow",
		"TEST_COLOR":      "green",
	})})
	got := problems(t, err)
	// Values that do not parse come first, from the file then from the
	// environment, then the values that parse but break a rule.
	want := []string{
		`retries (line 3): must be an integer from 0 to 100, got "many"`,
		`Color (line 4): unknown key; did you mean color?`,
		`drain (line 5): must be a duration such as 500ms or 1m30s, got "10"`,
		`TEST_BACKOFF_MS: must be a non-negative number of milliseconds, got "abc"`,
		`TEST_VERBOSE: must be true or false, got "maybe"`,
		`TEST_COLOR: must be red or blue, got "green"`,
		`TEST_URL: missing: set TEST_URL, or url in the configuration file`,
		`size (line 2): must be a positive integer, got "0"`,
		`TEST_MODE: must be one of fast or safe, got "slow"`,
		`routes[0].weight (line 8): must be an integer from 1 to 10, got "11"`,
		`routes[1].topic: missing: set routes[1].topic in the configuration file`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "invalid configuration (file "+path+" and environment): 11 problems\n\t") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestLoadNamesKeyWhereValueCameFrom(t *testing.T) {
	fromFile := writeFile(t, "url: x\nsize: -1\n")
	var cfg testConfig
	got := problems(t, Load(&cfg, Source{File: fromFile, Lookup: env(nil)}))
	if want := `size (line 2): must be a positive integer, got "-1"`; len(got) != 1 || got[0] != want {
		t.Errorf("file value: problems %q, want [%s]", got, want)
	}

	// Rules apply to the final value: the environment's valid value hides
	// the file's invalid one.
	cfg = testConfig{}
	if err := Load(&cfg, Source{File: fromFile, Lookup: env(map[string]string{"TEST_SIZE": "5"})}); err != nil {
		t.Errorf("env overriding an out-of-range file value: %v", err)
	}

	cfg = testConfig{}
	got = problems(t, Load(&cfg, Source{Lookup: env(map[string]string{"TEST_URL": "x", "TEST_SIZE": "-2"})}))
	if want := `TEST_SIZE: must be a positive integer, got "-2"`; len(got) != 1 || got[0] != want {
		t.Errorf("env value: problems %q, want [%s]", got, want)
	}
}

func TestLoadKeepsSecretsOutOfProblems(t *testing.T) {
	type secretConfig struct {
		Token string `env:"S_TOKEN" yaml:"token" secret:"true" oneof:"a|b"`
		PIN   int    `env:"S_PIN" yaml:"pin" secret:"true" min:"1000"`
	}
	const secret = "hunter2-very-secret"
	path := writeFile(t, "pin: "+secret+"\n")
	var cfg secretConfig
	err := Load(&cfg, Source{File: path, Lookup: env(map[string]string{"S_TOKEN": secret})})
	if err == nil {
		t.Fatal("Load accepted invalid secrets")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the secret: %v", err)
	}
	got := problems(t, err)
	want := []string{"pin (line 1): must be an integer of at least 1000", "S_TOKEN: must be one of a or b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// quotingText is a type whose UnmarshalText error quotes its input, as
// many do.
type quotingText string

func (q *quotingText) UnmarshalText(b []byte) error {
	if strings.HasPrefix(string(b), "ok-") {
		*q = quotingText(b)
		return nil
	}
	return fmt.Errorf("%q does not start with ok-", b)
}

func TestLoadKeepsSecretsOutOfParseErrors(t *testing.T) {
	type secretConfig struct {
		Key     quotingText       `env:"S_KEY" yaml:"key" secret:"true"`
		Headers map[string]string `env:"S_HEADERS" yaml:"headers" secret:"true"`
		Nested  map[string]string `yaml:"nested" secret:"true"`
	}
	const secret = "hunter2-very-secret"
	path := writeFile(t, "nested:\n  "+secret+": [x]\n")
	var cfg secretConfig
	err := Load(&cfg, Source{File: path, Lookup: env(map[string]string{
		"S_KEY":     secret,
		"S_HEADERS": secret + "=a," + secret + "=b",
	})})
	if err == nil {
		t.Fatal("Load accepted invalid secrets")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the secret: %v", err)
	}
	got := problems(t, err)
	want := []string{
		"nested (line 2): each value must be a single value, got a list",
		"S_KEY: must be a valid value",
		"S_HEADERS: must be a comma-separated list of key=value pairs",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestLoadReadsListOfStructs(t *testing.T) {
	path := writeFile(t, `
url: u
routes:
  - topic: /default/a
    key_filters: ["eu-*", "us-*"]
  - topic: /default/b
    weight: 9
`)
	var cfg testConfig
	if err := Load(&cfg, Source{File: path, Lookup: env(nil)}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []route{
		{Topic: "/default/a", Weight: 5, Filters: []string{"eu-*", "us-*"}},
		{Topic: "/default/b", Weight: 9},
	}
	if !reflect.DeepEqual(cfg.Routes, want) {
		t.Errorf("Routes = %+v, want %+v", cfg.Routes, want)
	}
}

func TestValidateNamesFieldsBySource(t *testing.T) {
	path := writeFile(t, "url: u\nroutes:\n  - topic: /a\n  - topic: /a\n")
	cfg := testConfig{validate: func(c *testConfig, p *Problems) {
		p.Add("routes[1].topic", "repeats the topic of routes[0]")
		p.Add("name", "is taken")
		p.Add("size", "ignored because of the earlier problem")
		p.Add("routes", "too many")
	}}
	got := problems(t, Load(&cfg, Source{File: path, Lookup: env(map[string]string{"TEST_NAME": "x", "TEST_SIZE": "zero"})}))
	want := []string{
		`TEST_SIZE: must be a positive integer, got "zero"`,
		`routes[1].topic (line 4): repeats the topic of routes[0]`,
		`TEST_NAME: is taken`,
		`routes: too many`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateKeepsEveryProblemOfPath(t *testing.T) {
	path := writeFile(t, "url: u\nroutes:\n  - topic: /a\n  - topic: /b\n")
	cfg := testConfig{validate: func(c *testConfig, p *Problems) {
		p.Add("name", "is taken")
		p.Add("routes[1].topic", "is not allowed")
		p.Add("name", "is too long")
		p.Add("routes[1].topic", "is not allowed")
		p.Add("routes[1].topic", "repeats the topic of %s", "routes[0]")
		p.Add("name", "is taken")
		if !p.Has("name") {
			t.Error("Has(name) = false after Add(name)")
		}
	}}
	got := problems(t, Load(&cfg, Source{File: path, Lookup: env(map[string]string{"TEST_NAME": "x"})}))
	want := []string{
		`TEST_NAME: is taken`,
		`routes[1].topic (line 4): is not allowed`,
		`TEST_NAME: is too long`,
		`routes[1].topic (line 4): repeats the topic of routes[0]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLoadReportsInvalidValueOfEachSource sets a value that does not parse
// in the file and another in the environment, and expects both, so that
// fixing one does not reveal the other on the next run.
func TestLoadReportsInvalidValueOfEachSource(t *testing.T) {
	path := writeFile(t, "url: u\nsize: abc\nretries: 1\nretries: 2\nretries: 3\n")
	var cfg testConfig
	got := problems(t, Load(&cfg, Source{File: path, Lookup: env(map[string]string{"TEST_SIZE": "xyz"})}))
	want := []string{
		`size (line 2): must be a positive integer, got "abc"`,
		`retries (line 4): is given more than once, first on line 3; keep one`,
		`retries (line 5): is given more than once, first on line 3; keep one`,
		`TEST_SIZE: must be a positive integer, got "xyz"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadReportsFileProblems(t *testing.T) {
	tests := []struct {
		name string
		file func(t *testing.T) string
		want string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.yaml") }, "does not exist"},
		{"not yaml", func(t *testing.T) string { return writeFile(t, "url: x\nname: [unclosed\n") }, "(line 2): is not valid YAML: a list in brackets"},
		{"not a mapping", func(t *testing.T) string { return writeFile(t, "- a\n- b\n") }, "must be a mapping of keys to values, got a list"},
		{"duplicate key", func(t *testing.T) string { return writeFile(t, "url: a\nurl: b\n") }, "is given more than once, first on line 1; keep one"},
		{"list for a value", func(t *testing.T) string { return writeFile(t, "url: [a]\n") }, "must be a valid value, got a list"},
		{"value for a list", func(t *testing.T) string { return writeFile(t, "routes: x\n") }, "must be a list of mappings, got a single value"},
		{"second document", func(t *testing.T) string { return writeFile(t, "url: a\n---\nname: [unclosed\n") }, "is not valid YAML"},
		{"second document with settings", func(t *testing.T) string { return writeFile(t, "url: a\n---\nname: n\n") }, "holds more than one YAML document"},
		{"map key twice", func(t *testing.T) string { return writeFile(t, "labels:\n  a: x\n  a: y\n") }, "has the key a given twice, the second time on line 3"},
		{"list as a map key", func(t *testing.T) string { return writeFile(t, "labels: {? [team, owner] : x}\n") }, "has a list as a key on line 1; each key must be a single value"},
		{"key repeated through an alias", func(t *testing.T) string { return writeFile(t, "&k name: n\nsize: 3\n*k : m\n") }, "(line 3): is given more than once, first on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg testConfig
			got := problems(t, Load(&cfg, Source{File: tt.file(t), Lookup: env(map[string]string{"TEST_URL": "u"})}))
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("problems %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// TestLoadKeepsFileTextOutOfYAMLErrors plants a secret in files that YAML
// cannot parse, or that have a key no setting has. Each problem must name
// the file or the mapping, the line when the parser gives one, and the
// kind of mistake, but not the secret.
func TestLoadKeepsFileTextOutOfYAMLErrors(t *testing.T) {
	const secret = "Zq9SECRETx"
	tests := []struct {
		name     string
		file     string
		wantKey  string // "" for the file's path
		wantLine int
		want     string
	}{
		{"unquoted value starting with *", "name: n\ntoken: *" + secret + "\n", "", 0, "a value starts with '*'"},
		{"': ' in an unquoted value", "name: n\ntoken: ab: " + secret + "\n", "", 2, "a value contains ': '"},
		{"unknown escape in double quotes", "name: n\ntoken: \"" + secret + "\\q\"\n", "", 2, "backslash sequence"},
		{"unclosed quote", "name: n\ntoken: '" + secret + "\n", "", 2, "no closing quote"},
		{"tab indentation", "name: n\nnested:\n\tlevel: " + secret + "\n", "", 3, "indented with a tab"},
		{"control character", "name: n\ntoken: " + secret + "\x01\n", "", 0, "control character"},
		{"value starting with @", "name: n\ntoken: @" + secret + "\n", "", 2, "a value starts with a character that YAML reserves"},
		{"value starting with @ on line 1", "token: @" + secret + "\n", "", 1, "a value starts with a character that YAML reserves"},
		{"text after a quoted value", "name: n\ntoken: '" + secret + "'x\n", "", 2, "text follows the closing quote"},
		{"connection string as a key", "name: n\nmongodb://app:" + secret + "@db/x: 1\n", "the top level", 2, "unknown key that is not shown"},
		{"connection string as a nested key", "name: n\nnested:\n  http://app:" + secret + "@db: 1\n", "nested", 3, "unknown key that is not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			var cfg testConfig
			err := Load(&cfg, Source{File: path, Lookup: env(map[string]string{"TEST_URL": "u"})})
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret:\n%v", err)
			}

			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
				t.Fatalf("got %v, want a *config.Error with one problem", err)
			}
			p := cerr.Problems[0]
			wantKey := tt.wantKey
			if wantKey == "" {
				wantKey = path
			}
			if p.Key != wantKey {
				t.Errorf("problem key %q, want %q", p.Key, wantKey)
			}
			if p.Line != tt.wantLine {
				t.Errorf("problem line %d, want %d", p.Line, tt.wantLine)
			}
			if !strings.Contains(p.Message, tt.want) {
				t.Errorf("problem message %q, want one containing %q", p.Message, tt.want)
			}
		})
	}
}

// TestDescribeYAMLErrorFindsLine parses one file for each common syntax
// error and checks that describeYAMLError recognises the parser's message
// and corrects its line number, so that an upgrade of yaml.v3 that
// rewords a message or renumbers its lines fails here.
func TestDescribeYAMLErrorFindsLine(t *testing.T) {
	tests := []struct {
		file string
		line int // 0 for none
	}{
		{"a: b\nc: d: e\n", 2},
		{"a: b\n c: d\n", 2},
		{"a: b\nc: `d\n", 2},
		{"a: b\n\tc: d\n", 2},
		{"a: b\nc: \"d\\qe\"\n", 2},
		{"a: b\nc: \"d\n", 2},
		{"a: b\nc: [d, e\n", 2},
		{"a: b\nc: {d: e\n", 2},
		{"a: b\nc\n", 2},
		{"a: b\nc: &\n", 2},
		{"a: b\nc: %d\n", 2},
		{"a: b\n- c\n", 2},
		{"a:\n  b: 1\n c: 2\n", 3},
		{"- a\nb: c\n", 2},
		{"a: b\nc: }\n", 2},
		{"a: b\nc: !e!x d\n", 2},
		{"%YAML 1.1\n%YAML 1.1\n---\na: b\n", 2},
		{"%FOO bar\n---\na: b\n", 1},
		{"a: b\nc: \x01\n", 0},
		{"a: b\nc: \xff\n", 0},
		{"a: b\nc: *d\n", 0},
	}
	_, generic := describeYAMLError(errors.New("yaml: line 3: something new"))
	for _, tt := range tests {
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(tt.file), &doc)
		if err == nil {
			t.Errorf("%q: parsed without an error", tt.file)
			continue
		}
		line, message := describeYAMLError(err)
		if message == generic {
			t.Errorf("%q: the parser's message %q is not recognised", tt.file, err)
		}
		if line != tt.line {
			t.Errorf("%q: line %d, want %d (the parser's message: %q)", tt.file, line, tt.line, err)
		}
	}
}

func TestLoadAcceptsEmptyFile(t *testing.T) {
	var cfg testConfig
	err := Load(&cfg, Source{File: writeFile(t, "\n# nothing\n"), Lookup: env(map[string]string{"TEST_URL": "u"})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadRejectsUnusableTargets(t *testing.T) {
	type badDefault struct {
		N int `env:"N" default:"ten"`
	}
	type badUnit struct {
		N int `env:"N" unit:"ms"`
	}
	type badType struct {
		C chan int `env:"C"`
	}
	type dupKey struct {
		A string `yaml:"a"`
		B string `yaml:"a"`
	}
	tests := []struct {
		name string
		dst  any
		want string
	}{
		{"not a pointer", testConfig{}, "non-nil pointer to a struct"},
		{"nil pointer", (*testConfig)(nil), "non-nil pointer to a struct"},
		{"bad default", &badDefault{}, `invalid default tag "ten"`},
		{"unit on an int", &badUnit{}, "unit is only for time.Duration"},
		{"unsupported type", &badType{}, "unsupported type chan int"},
		{"duplicate key", &dupKey{}, `YAML key "a" is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Load(tt.dst, Source{Lookup: env(nil)})
			if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want a program error containing %q", err, tt.want)
			}
		})
	}
}

func TestDescribeRedactsSecrets(t *testing.T) {
	cfg := testConfig{Size: 5, Backoff: 1500 * time.Millisecond, Color: 2, Tags: []string{"a", "b"}}
	cfg.Token = "s3cret"
	cfg.URL = "http://broker"
	cfg.Labels = map[string]string{"z": "1", "a": "2"}
	got := map[string]Setting{}
	for _, s := range Describe(&cfg) {
		got[s.Key] = s
	}
	want := map[string]string{
		"url":        "http://broker",
		"token":      Redacted,
		"size":       "5",
		"backoff_ms": "1500",
		"drain":      "",
		"color":      "blue",
		"tags":       "a,b",
		"labels":     "a=2,z=1",
	}
	for key, value := range want {
		if got[key].Value != value {
			t.Errorf("Describe %s = %q, want %q", key, got[key].Value, value)
		}
	}
	if got["token"].Env != "TEST_TOKEN" {
		t.Errorf("Describe token Env = %q", got["token"].Env)
	}
	if text := fmt.Sprint(LogValue(cfg)); strings.Contains(text, "s3cret") {
		t.Errorf("LogValue shows the secret: %s", text)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{"MaxRetries": "max_retries", "URL": "url", "ServiceURL": "service_url", "TLSCAFile": "tlsca_file", "Port2": "port2"} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultsFillsOnlyZeroFields(t *testing.T) {
	cfg := testConfig{Size: 7}
	if err := Defaults(&cfg); err != nil {
		t.Fatalf("Defaults: %v", err)
	}
	if cfg.Size != 7 {
		t.Errorf("Size = %d, want the preset 7", cfg.Size)
	}
	if cfg.Name != "sink" || cfg.Backoff != time.Second || cfg.Nested.Level != 2 {
		t.Errorf("Name, Backoff, Nested.Level = %q, %v, %d; want the defaults sink, 1s, 2", cfg.Name, cfg.Backoff, cfg.Nested.Level)
	}
	if cfg.URL != "" {
		t.Errorf("URL = %q, want it left empty", cfg.URL)
	}
}

func TestCheckFlagsZeroNumbers(t *testing.T) {
	cfg := testConfig{Mode: "slow", Routes: []route{{Topic: "/a", Weight: 0}}}
	cfg.URL = "http://broker"
	got := problems(t, Check(&cfg))
	want := []string{
		`TEST_SIZE: must be a positive integer, got "0"`,
		`TEST_MODE: must be one of fast or safe, got "slow"`,
		`routes[0].weight: must be an integer from 1 to 10, got "0"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	valid := testConfig{}
	if err := Defaults(&valid); err != nil {
		t.Fatal(err)
	}
	valid.URL = "http://broker"
	if err := Check(&valid); err != nil {
		t.Errorf("Check of a defaulted configuration: %v", err)
	}
}

// TestLoadAcceptsOneDocumentWithMarkers: a file that opens with '---',
// ends with '...', or ends with an empty document still holds one
// document of settings.
func TestLoadAcceptsOneDocumentWithMarkers(t *testing.T) {
	for _, file := range []string{"---\nname: n\n", "name: n\n...\n", "# settings\n---\nname: n\n", "name: n\n---\n", "name: n\n---\n# nothing\n"} {
		var cfg testConfig
		if err := Load(&cfg, Source{File: writeFile(t, file), Lookup: env(map[string]string{"TEST_URL": "u"})}); err != nil {
			t.Errorf("Load(%q) = %v", file, err)
		} else if cfg.Name != "n" {
			t.Errorf("Load(%q) read name %q, want n", file, cfg.Name)
		}
	}
}

// TestLoadUnreadFileReportsNoMissing gives a file whose settings cannot be
// read, which may hold the required url and the routes. Load must report
// the file's problem and the environment's, and nothing as missing.
func TestLoadUnreadFileReportsNoMissing(t *testing.T) {
	files := []struct {
		name string
		file func(t *testing.T) string
		want string
	}{
		{"not yaml", func(t *testing.T) string { return writeFile(t, "url: x\nname: [unclosed\n") }, "is not valid YAML"},
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.yaml") }, "does not exist"},
		{"second document", func(t *testing.T) string { return writeFile(t, "url: a\n---\nname: n\n") }, "holds more than one YAML document"},
		{"not a mapping", func(t *testing.T) string { return writeFile(t, "- url: a\n") }, "must be a mapping of keys to values"},
	}
	for _, tt := range files {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig{validate: func(c *testConfig, p *Problems) {
				if len(c.Routes) == 0 {
					p.Add("routes", "missing: set routes in the configuration file")
				}
				if c.Name == "bad" {
					p.Add("name", "must not be bad")
				}
				if c.Size > 10 {
					p.Add("size", "must be at most 10 here")
				}
			}}
			lookup := env(map[string]string{"TEST_RETRIES": "many", "TEST_NAME": "bad"})

			got := problems(t, Load(&cfg, Source{File: tt.file(t), Lookup: lookup}))

			if len(got) != 3 {
				t.Fatalf("got %d problems, want 3:\n%s", len(got), strings.Join(got, "\n"))
			}
			if !strings.Contains(got[0], tt.want) {
				t.Errorf("first problem %q, want the file's, containing %q", got[0], tt.want)
			}
			if want := `TEST_RETRIES: must be`; !strings.HasPrefix(got[1], want) {
				t.Errorf("second problem %q, want one starting %q", got[1], want)
			}
			if want := `TEST_NAME: must not be bad`; got[2] != want {
				t.Errorf("third problem %q, want %q", got[2], want)
			}
		})
	}
}

// TestLoadReadFileStillReportsMissing checks that a file that parses but
// lacks a required key still gets the key reported as missing.
func TestLoadReadFileStillReportsMissing(t *testing.T) {
	var cfg testConfig
	got := problems(t, Load(&cfg, Source{File: writeFile(t, "name: n\n"), Lookup: env(nil)}))
	want := []string{`TEST_URL: missing: set TEST_URL, or url in the configuration file`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// TestLogValueShowsZeroValues logs a configuration whose settings are set
// to zero values through a JSON handler, and expects each as it is: false
// as false, 0 as 0, and an empty list or string as "".
func TestLogValueShowsZeroValues(t *testing.T) {
	cfg := testConfig{Name: "", Size: 0, Retries: 0, Backoff: 0, Drain: 0, Verbose: false, Tags: []string{}}
	cfg.URL = "http://broker"
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("configuration", "config", LogValue(&cfg))

	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	want := map[string]any{
		"url":          "http://broker",
		"token":        "",
		"name":         "",
		"size":         float64(0),
		"retries":      float64(0),
		"backoff_ms":   float64(0),
		"drain":        "0s",
		"verbose":      false,
		"mode":         "",
		"color":        "",
		"tags":         "",
		"labels":       "",
		"nested.level": float64(0),
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

// TestLogValueShowsSetValues logs set values, a secret among them, and
// expects each in its type, the secret redacted.
func TestLogValueShowsSetValues(t *testing.T) {
	cfg := testConfig{Size: 5, Retries: 7, Backoff: 1500 * time.Millisecond, Drain: 30 * time.Second,
		Verbose: true, Color: 2, Tags: []string{"a", "b"}, Labels: map[string]string{"z": "1", "a": "2"}}
	cfg.Token = "s3cret"
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("configuration", "config", LogValue(cfg))

	if strings.Contains(out.String(), "s3cret") {
		t.Fatalf("the log line shows the secret: %s", out.String())
	}
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	want := map[string]any{
		"token":      Redacted,
		"size":       float64(5),
		"retries":    float64(7),
		"backoff_ms": float64(1500),
		"drain":      "30s",
		"verbose":    true,
		"color":      "blue",
		"tags":       "a,b",
		"labels":     "a=2,z=1",
	}
	for key, value := range want {
		if got := line.Config[key]; got != value {
			t.Errorf("config.%s = %#v, want %#v", key, got, value)
		}
	}
}
