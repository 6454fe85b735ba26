package connect_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/sink"
	"github.com/danube-messaging/danube-connect-go/source"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/configuration.md")

// configurationDoc is the configuration reference. Its tables sit between
// the markers of generatedSection and come from the programs themselves.
const configurationDoc = "docs/configuration.md"

// generatedSection returns the markers around the generated table named
// name in configurationDoc.
func generatedSection(name string) (begin, end string) {
	return "<!-- generated:" + name + " -->\n", "<!-- end generated:" + name + " -->\n"
}

// TestConfigurationReferenceIsCurrent checks that the tables of the
// configuration reference list every setting of the two programs, with
// the defaults and meanings they have now: danube-sink-mongodb's from its
// -help, danube-source-jsonl's from jsonl.Config. Run the test with
// -update to rewrite them.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	tables := map[string]string{
		"danube-sink-mongodb": settingsTable(sinkBinarySettings(t)),
		"danube-source-jsonl": settingsTable(jsonlSettings(t)),
	}
	raw, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	for _, name := range slices.Sorted(maps.Keys(tables)) {
		begin, end := generatedSection(name)
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Errorf("%s has no section between %q and %q", configurationDoc, begin, end)
			continue
		}
		current := doc[i+len(begin) : j]
		if current == tables[name] {
			continue
		}
		if *update {
			doc = doc[:i+len(begin)] + tables[name] + doc[j:]
			continue
		}
		t.Errorf("the %s table of %s is out of date; run go test -run %s -update .\n%s",
			name, configurationDoc, t.Name(), firstDifference(current, tables[name]))
	}
	if *update {
		if err := os.WriteFile(configurationDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// firstDifference describes the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n  has  %q\n  want %q", i+1, gl, wl)
		}
	}
	return "no line differs"
}

// settingName matches a word that looks like an environment variable.
var settingName = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)

// notSettings are the upper-case words with underscores that the docs
// use and that are not settings of the programs: variables of the tests
// and tools, gRPC status codes, and settings of other software.
var notSettings = []string{
	"MONGODB_URI", "MONGOTEST_VERBOSE", "DANUBE_CONNECT_STRICT", "DANUBE_CONNECT_DATA",
	"SOAK_SEED", "SOAK_LONG", "SOAK_MESSAGES", "DANUBE_URL",
	"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "NOT_FOUND", "PERMISSION_DENIED", "FAILED_PRECONDITION",
	"ALREADY_EXISTS",
}

// TestDocsNameOnlyExistingSettings checks that every variable the README
// and the guides name is a setting of one of the programs, or one of
// notSettings, so that a renamed or mistyped setting shows up here.
func TestDocsNameOnlyExistingSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range append(sinkBinarySettings(t), jsonlSettings(t)...) {
		for _, env := range s.envs {
			known[env] = true
		}
	}
	for _, name := range notSettings {
		known[name] = true
	}
	known[sink.EnvConfigPath] = true
	known[source.EnvConfigPath] = true

	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range append([]string{"README.md"}, files...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, name := range settingName.FindAllString(line, -1) {
				if !known[name] {
					t.Errorf("%s:%d names %s, which no program reads", path, i+1, name)
				}
			}
		}
	}
}

// exampleMarker precedes a Go code block of the README or a guide that
// must be a piece of the named function of example_test.go.
var exampleMarker = regexp.MustCompile(`^<!-- example: (\w+) -->$`)

// TestDocSamplesMatchExamples checks that each code sample of the README
// and the guides marked with exampleMarker is a run of consecutive lines
// of its function in example_test.go, indentation aside. The samples then
// compile and run, as go test runs the Examples.
func TestDocSamplesMatchExamples(t *testing.T) {
	examples := exampleSources(t, "example_test.go")
	guides, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}

	readmeSamples := 0
	for _, path := range append([]string{"README.md"}, guides...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i, line := range lines {
			m := exampleMarker.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if path == "README.md" {
				readmeSamples++
			}
			src, ok := examples[m[1]]
			if !ok {
				t.Errorf("%s:%d: example_test.go has no function %s", path, i+1, m[1])
				continue
			}
			if i+1 >= len(lines) || lines[i+1] != "```go" {
				t.Errorf("%s:%d: the marker of %s is not followed by a ```go block", path, i+1, m[1])
				continue
			}
			var sample []string
			for _, l := range lines[i+2:] {
				if l == "```" {
					break
				}
				sample = append(sample, l)
			}
			if !containsRun(src, sample) {
				t.Errorf("%s:%d: the sample is not a run of lines of %s; copy it again from example_test.go", path, i+3, m[1])
			}
		}
	}
	if readmeSamples < 3 {
		t.Errorf("README.md has %d marked samples, want at least one for each way to use the library", readmeSamples)
	}
}

// exampleSources returns the source lines of each top-level function of
// the file at path, by name, with the lines of the declarations the file
// has before it, so that a sample may show a type with its methods.
func exampleSources(t *testing.T, path string) map[string][]string {
	t.Helper()

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	sources := map[string][]string{}
	start := 0
	for _, decl := range file.Decls {
		end := fset.Position(decl.End()).Line
		if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil {
			sources[fn.Name.Name] = lines[start:end]
			start = end
		}
	}
	return sources
}

// containsRun reports whether sample is a run of consecutive lines of src
// once both lose the same number of leading tabs on every non-empty line.
func containsRun(src, sample []string) bool {
	if len(sample) == 0 {
		return false
	}
	shiftOf := func(line string) int { return len(line) - len(strings.TrimLeft(line, "\t")) }
	for i := range src {
		if i+len(sample) > len(src) || strings.TrimLeft(src[i], "\t") != strings.TrimLeft(sample[0], "\t") {
			continue
		}
		shift := shiftOf(src[i]) - shiftOf(sample[0])
		if shift < 0 {
			continue
		}
		prefix := strings.Repeat("\t", shift)
		match := true
		for j, s := range sample {
			if s == "" && strings.TrimSpace(src[i+j]) == "" {
				continue
			}
			if src[i+j] != prefix+s {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
