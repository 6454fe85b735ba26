package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/config"
)

var update = flag.Bool("update", false, "rewrite settingdocs.go from the doc comments of the configuration structs")

// settingDocsFile is the generated file of setting meanings.
const settingDocsFile = "settingdocs.go"

// structDocs are the doc comments of one struct type's fields, by field
// name, and their tags.
type structDocs struct {
	typeDoc string
	docs    map[string]string
	tags    map[string]reflect.StructTag
	order   []string
}

// parseStruct reads the doc comments and tags of the fields of struct
// typeName in the Go file at path.
func parseStruct(t *testing.T, path, typeName string) structDocs {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := structDocs{docs: map[string]string{}, tags: map[string]reflect.StructTag{}}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok || ts.Name.Name != typeName {
				continue
			}
			out.typeDoc = gen.Doc.Text()
			// A field without a doc comment on the line after a field
			// shares the doc comment of that field, as the TLS files do.
			doc, lastLine := "", 0
			for _, field := range st.Fields.List {
				line := fset.Position(field.Pos()).Line
				if field.Doc != nil || line != lastLine+1 {
					doc = strings.Join(strings.Fields(field.Doc.Text()), " ")
				}
				lastLine = line
				var tag reflect.StructTag
				if field.Tag != nil {
					text, err := strconv.Unquote(field.Tag.Value)
					if err != nil {
						t.Fatalf("%s: tag of %s.%v: %v", path, typeName, field.Names, err)
					}
					tag = reflect.StructTag(text)
				}
				for _, name := range field.Names {
					out.docs[name.Name] = doc
					out.tags[name.Name] = tag
					out.order = append(out.order, name.Name)
				}
			}
			return out
		}
	}
	t.Fatalf("%s: no struct type %s", path, typeName)
	return out
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

	// Each setting: the variable, and the doc comment that means it, whose
	// subject is the field itself.
	docs := map[string]string{}
	names := map[string]string{} // Go field name to the variable or key that replaces it
	add := func(s structDocs, field, doc string) {
		env := s.tags[field].Get("env")
		if env == "" {
			return
		}
		if rest, ok := strings.CutPrefix(doc, field); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, ",")) {
			doc = env + rest
		}
		docs[env] = doc
		names[field] = env
	}
	for _, s := range []structDocs{runtime, policy, binary} {
		for _, field := range s.order {
			add(s, field, s.docs[field])
		}
	}
	for _, field := range mirror.order {
		doc, ok := connector.docs[field]
		if !ok {
			t.Fatalf("mongoConfig.%s has no field of the same name in mongodb.Config", field)
		}
		add(mirror, field, doc)
	}

	// The routes, a list of the file only: the field's doc, and the keys
	// of a route.
	var keys []string
	for _, field := range route.order {
		key, _, _ := strings.Cut(route.tags[field].Get("yaml"), ",")
		if route.tags[field].Get("required") == "true" {
			key += " (required)"
		}
		keys = append(keys, key)
	}
	docs[routesKey] = runtime.docs["Routes"] + " Each route is a mapping with the keys " + strings.Join(keys, ", ") +
		"; a key left out takes the value of the top-level setting of the same name."
	names["Routes"] = routesKey

	// Replace the Go names, longest first, so that a name never replaces
	// part of a longer one, and Config.Name along with Name. A name in
	// capitals, such as TLS, is also the word of the field, and stays.
	goNames := make([]string, 0, len(names))
	for name := range names {
		if name != strings.ToUpper(name) {
			goNames = append(goNames, regexp.QuoteMeta(name))
		}
	}
	sort.Slice(goNames, func(i, j int) bool { return len(goNames[i]) > len(goNames[j]) })
	pattern := regexp.MustCompile(`\b(?:Config\.)?(` + strings.Join(goNames, "|") + `)\b`)
	for key, doc := range docs {
		docs[key] = pattern.ReplaceAllStringFunc(doc, func(m string) string {
			return names[strings.TrimPrefix(m, "Config.")]
		})
	}

	keysSorted := make([]string, 0, len(docs))
	for key := range docs {
		keysSorted = append(keysSorted, key)
	}
	slices.Sort(keysSorted)

	var b bytes.Buffer
	b.WriteString("// Code generated by TestSettingDocsAreCurrent with -update; DO NOT EDIT.\n\n")
	b.WriteString("package main\n\n")
	b.WriteString("// settingDocs maps each setting to its meaning for the help, by\n")
	b.WriteString("// environment variable, or by YAML key for a setting of the file only.\n")
	b.WriteString("// The meaning is the doc comment of the setting's configuration field,\n")
	b.WriteString("// with the Go names of fields replaced by the names of their settings.\n")
	b.WriteString("var settingDocs = map[string]string{\n")
	for _, key := range keysSorted {
		fmt.Fprintf(&b, "\t%q: %q,\n", key, docs[key])
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		t.Fatalf("format the generated file: %v", err)
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
