package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/confighelp"
)

var update = flag.Bool("update", false, "rewrite settingdocs.go from the doc comments of the configuration structs")

// settingDocsFile is the generated file of setting meanings.
const settingDocsFile = "settingdocs.go"

// parseStruct reads the fields of struct typeName in the Go file at path.
func parseStruct(t *testing.T, path, typeName string) confighelp.Struct {
	t.Helper()
	s, err := confighelp.ParseStruct(path, typeName)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// generateSettingDocs returns the content of settingdocs.go: the doc
// comment of each setting's field, by environment variable, with the Go
// names of fields replaced by their variables' names, so that the help
// speaks of BATCH_SIZE rather than BatchSize.
func generateSettingDocs(t *testing.T) []byte {
	t.Helper()
	runtime := parseStruct(t, "../../sink/config.go", "Config")
	policy := parseStruct(t, "../../sink/config.go", "Policy")
	route := parseStruct(t, "../../sink/config.go", "Route")
	connector := parseStruct(t, "../../mongodb/config.go", "Config")
	binary := parseStruct(t, "config.go", "Config")
	mirror := parseStruct(t, "config.go", "mongoConfig")

	// Each setting: its field, whose doc comment means it. The fields of
	// mongoConfig take the doc comments of mongodb.Config's.
	type setting struct {
		key, field, doc string
	}
	var settings []setting
	names := map[string]string{} // Go field name to the variable or key that replaces it
	add := func(f confighelp.Field, doc string) {
		env := f.Tag.Get("env")
		if env == "" {
			return
		}
		settings = append(settings, setting{key: env, field: f.Name, doc: doc})
		names[f.Name] = env
	}
	for _, s := range []confighelp.Struct{runtime, policy, binary} {
		for _, f := range s.Fields {
			add(f, f.Doc)
		}
	}
	for _, f := range mirror.Fields {
		documented, ok := connector.Field(f.Name)
		if !ok {
			t.Fatalf("mongoConfig.%s has no field of the same name in mongodb.Config", f.Name)
		}
		add(f, documented.Doc)
	}

	// The routes, a list of the file only: the field's doc, and the keys
	// of a route.
	var keys []string
	for _, f := range route.Fields {
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Tag.Get("required") == "true" {
			key += " (required)"
		}
		keys = append(keys, key)
	}
	routes, ok := runtime.Field("Routes")
	if !ok {
		t.Fatal("sink.Config has no field Routes")
	}
	settings = append(settings, setting{key: routesKey, field: routes.Name, doc: routes.Doc +
		" Each route is a mapping with the keys " + strings.Join(keys, ", ") +
		"; a key left out takes the value of the top-level setting of the same name."})
	names[routes.Name] = routesKey

	renamer := confighelp.NewRenamer(names)
	docs := map[string]string{}
	for _, s := range settings {
		docs[s.key] = renamer.Rename(s.field, s.doc)
	}
	src, err := confighelp.GoFile("main", "TestSettingDocsAreCurrent with -update", docs)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestSettingDocsAreCurrent checks that settingdocs.go holds the doc
// comments of the configuration structs as they are now; go generate
// rewrites it.
func TestSettingDocsAreCurrent(t *testing.T) {
	want := generateSettingDocs(t)
	if *update {
		if err := os.WriteFile(settingDocsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(settingDocsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the doc comments of the configuration structs: run go generate ./cmd/danube-sink-mongodb", settingDocsFile)
	}
}

// TestHelpDocumentsEverySetting checks that the help names every setting
// that Load reads, with its YAML key, its meaning and its default.
func TestHelpDocumentsEverySetting(t *testing.T) {
	var help bytes.Buffer
	writeHelp(&help)
	text := help.String()

	var defaults Config
	if err := config.Defaults(&defaults); err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Describe(&defaults) {
		if s.Env == "" {
			t.Errorf("setting %s has no environment variable", s.Key)
			continue
		}
		if settingDocs[s.Env] == "" {
			t.Errorf("setting %s has no meaning in the help", s.Env)
		}
		entry := fmt.Sprintf("  %s (%s)", s.Env, s.Key)
		if !strings.Contains(text, entry) {
			t.Errorf("help has no entry %q", entry)
		}
		if s.Value != "" && !strings.Contains(text, entry+"  ") {
			t.Errorf("help entry of %s shows no default, want %s", s.Env, s.Value)
		}
	}
	for _, want := range []string{
		"  BATCH_SIZE (batch_size)  default 1000\n",
		"  MONGODB_CONNECTION_STRING (mongodb_connection_string)  required, secret, never logged\n",
		"  DANUBE_TOKEN (danube_token)  secret, never logged\n",
		"  MONGODB_TIMEOUT (mongodb_timeout)  default 30s\n",
		"  routes (YAML only)\n",
		"BATCH_SIZE is the most records one Write receives.",
		"-config FILE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(text, "BatchSize") || strings.Contains(text, "ConnectionString") {
		t.Error("help shows Go field names where it should show the settings' names")
	}
}
