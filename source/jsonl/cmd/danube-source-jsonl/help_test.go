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
	"github.com/danube-messaging/danube-connect-go/internal/lifecycle"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
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
	runtime := parseStruct(t, "../../../config.go", "Config")
	route := parseStruct(t, "../../../config.go", "RouteConfig")
	file := parseStruct(t, "../../config.go", "Config")

	names := map[string]string{} // Go field name to the variable or key that replaces it
	var fields []confighelp.Field
	for _, s := range []confighelp.Struct{runtime, file} {
		for _, f := range s.Fields {
			if env := f.Tag.Get("env"); env != "" {
				names[f.Name] = env
				fields = append(fields, f)
			}
		}
	}

	// The routes, a list of the file only: the field's doc, and the keys
	// of a route.
	routes, ok := runtime.Field("Routes")
	if !ok {
		t.Fatal("source.Config has no field Routes")
	}
	var keys []string
	for _, f := range route.Fields {
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Tag.Get("required") == "true" {
			key += " (required)"
		}
		keys = append(keys, key)
	}
	names[routes.Name] = routesKey

	renamer := confighelp.NewRenamer(names)
	docs := map[string]string{
		routesKey: renamer.Rename(routes.Name, routes.Doc+" Each entry is a mapping with the keys "+strings.Join(keys, ", ")+"."),
	}
	for _, f := range fields {
		docs[f.Tag.Get("env")] = renamer.Rename(f.Name, f.Doc)
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
		t.Errorf("%s is out of date with the doc comments of the configuration structs: run go generate ./source/jsonl/cmd/danube-source-jsonl", settingDocsFile)
	}
}

// TestHelpDocumentsEverySetting checks that the help names every setting
// that the configuration reads, with its YAML key, its meaning and its
// default.
func TestHelpDocumentsEverySetting(t *testing.T) {
	var help bytes.Buffer
	writeHelp(&help)
	text := help.String()

	var defaults jsonl.Config
	if err := config.Defaults(&defaults); err != nil {
		t.Fatal(err)
	}
	settings := config.Describe(&defaults)
	if len(settings) < 20 {
		t.Fatalf("config.Describe lists %d settings of jsonl.Config, want every setting of the runtime and the file", len(settings))
	}
	for _, s := range settings {
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
		"  JSONL_FILE (jsonl_file)  required\n",
		"  JSONL_MAX_LINE_BYTES (jsonl_max_line_bytes)  default 1048576\n",
		"  DANUBE_TOKEN (danube_token)  secret, never logged\n",
		"  BATCH_SIZE (batch_size)  default 256\n",
		"  routes (YAML only)\n",
		"JSONL_FILE is the JSON-lines file to read.",
		"JSONL_CHECKPOINT_FILE is the file the position is committed to,",
		"CONNECTOR_CONFIG_PATH",
		"-h, -help",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(text, "CheckpointFile") || strings.Contains(text, "ServiceURL") {
		t.Error("help shows Go field names where it should show the settings' names")
	}
}

// TestHelpFlagExitsZero checks that -help and -h print the help on
// standard output and exit 0 without reading the configuration, which is
// missing here.
func TestHelpFlagExitsZero(t *testing.T) {
	for _, arg := range []string{"-help", "-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{arg}, noEnv, &stdout, &stderr)
			if code != lifecycle.ExitOK {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, lifecycle.ExitOK, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "Usage: "+programName) {
				t.Errorf("stdout does not start with the usage line:\n%s", stdout.String())
			}
			if !strings.Contains(stdout.String(), "  DANUBE_SERVICE_URL (danube_service_url)  required\n") {
				t.Errorf("stdout lists no settings:\n%s", stdout.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestBadCommandLineExitsTwo checks that an unknown flag or an argument
// exits 2 with a message pointing to -help, before the configuration is
// read.
func TestBadCommandLineExitsTwo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-config", "x.yaml"}, "run " + programName + " -help"},
		{"argument", []string{"input.jsonl"}, `unexpected argument "input.jsonl"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, noEnv, &stdout, &stderr)
			if code != lifecycle.ExitInvalidConfig {
				t.Errorf("exit status %d, want %d", code, lifecycle.ExitInvalidConfig)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "DANUBE_SERVICE_URL") {
				t.Errorf("stderr reports the configuration, which should not be read: %q", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// TestMissingConfigurationExitsTwo checks that without -help the program
// still reads the configuration and reports what is missing.
func TestMissingConfigurationExitsTwo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(nil, noEnv, &stdout, &stderr)
	if code != lifecycle.ExitInvalidConfig {
		t.Errorf("exit status %d, want %d", code, lifecycle.ExitInvalidConfig)
	}
	for _, want := range []string{"DANUBE_SERVICE_URL", "JSONL_FILE"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name the missing %s:\n%s", want, stderr.String())
		}
	}
}

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }
