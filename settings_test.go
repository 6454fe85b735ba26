package connect_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

// setting is one row of the configuration reference: the variables and
// YAML keys that share a meaning, such as the three TLS files.
type setting struct {
	envs     []string // empty for a setting of the YAML file only
	keys     []string
	value    string // the default, "" for none
	required bool
	secret   bool
	meaning  string
}

// helpEntry matches the first line of a setting in the output of
// danube-sink-mongodb -help: "  ENV (key)  notes" or "  key (YAML only)".
var helpEntry = regexp.MustCompile(`^  (\S+) \(([^)]+)\)(?:  (.*))?$`)

// sinkHelp runs danube-sink-mongodb -help once for the tests of the
// process, because each run compiles the program.
var sinkHelp = sync.OnceValues(func() ([]byte, error) {
	return exec.Command("go", "run", "./cmd/danube-sink-mongodb", "-help").CombinedOutput()
})

// sinkBinarySettings runs danube-sink-mongodb -help and returns its
// settings in the order it lists them.
func sinkBinarySettings(t *testing.T) []setting {
	t.Helper()

	out, err := sinkHelp()
	if err != nil {
		t.Fatalf("go run ./cmd/danube-sink-mongodb -help: %v\n%s", err, out)
	}

	var settings []setting
	var pending setting // the entries read since the last meaning
	flush := func() {
		if pending.meaning != "" {
			settings = append(settings, pending)
			pending = setting{}
		}
	}
	inSettings := false
	scanner := bufio.NewScanner(strings.NewReader(string(out)))
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case line == "Danube and runtime settings:":
			inSettings = true
		case strings.HasPrefix(line, "Exit status:"):
			inSettings = false
		case !inSettings:
		case line == "" || strings.HasSuffix(line, "settings:"):
			flush()
		case strings.HasPrefix(line, "      "):
			if len(pending.keys) == 0 {
				t.Fatalf("-help: a meaning without a setting before it: %q", line)
			}
			pending.meaning = strings.TrimSpace(pending.meaning + " " + strings.TrimSpace(line))
		case helpEntry.MatchString(line):
			flush()
			addHelpEntry(&pending, helpEntry.FindStringSubmatch(line))
		default:
			t.Fatalf("-help: unexpected line among the settings: %q", line)
		}
	}
	flush()
	if len(settings) < 20 {
		t.Fatalf("-help lists %d settings; the parser no longer matches its format:\n%s", len(settings), out)
	}
	return settings
}

// addHelpEntry adds to s the setting of one -help entry line, matched by
// helpEntry: its variable, its YAML key and its notes.
func addHelpEntry(s *setting, m []string) {
	if m[2] == "YAML only" {
		s.keys = append(s.keys, m[1])
	} else {
		s.envs = append(s.envs, m[1])
		s.keys = append(s.keys, m[2])
	}
	for _, note := range strings.Split(m[3], ", ") {
		switch {
		case note == "required":
			s.required = true
		case note == "secret":
			s.secret = true
		case strings.HasPrefix(note, "default "):
			s.value = strings.TrimPrefix(note, "default ")
		}
	}
}

// jsonlSettings returns the settings of danube-source-jsonl: the fields
// of jsonl.Config, with their defaults and the doc comments of the fields.
func jsonlSettings(t *testing.T) []setting {
	t.Helper()

	var defaults jsonl.Config
	if err := config.Defaults(&defaults); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, s := range config.Describe(&defaults) {
		values[s.Env] = s.Value
	}

	var settings []setting
	for _, f := range settingFields(t, reflect.TypeFor[jsonl.Config]()) {
		s := setting{
			keys:     []string{f.yaml},
			required: f.tag.Get("required") == "true",
			secret:   f.tag.Get("secret") == "true",
			meaning:  f.doc,
		}
		if env := f.tag.Get("env"); env != "" {
			s.envs = []string{env}
			s.value = values[env]
		}
		if s.meaning == "" {
			t.Errorf("%s has no doc comment to document it with", f.name)
		}

		// Fields documented together, such as the three TLS files, share
		// one row, as they share one entry of the -help.
		if n := len(settings); n > 0 && settings[n-1].meaning == s.meaning {
			settings[n-1].envs = append(settings[n-1].envs, s.envs...)
			settings[n-1].keys = append(settings[n-1].keys, s.keys...)
			continue
		}
		settings = append(settings, s)
	}
	return settings
}

// settingField is one configuration field with its doc comment.
type settingField struct {
	name string
	yaml string
	tag  reflect.StructTag
	doc  string
}

// settingFields returns the fields of the configuration struct type typ,
// inline structs included, in declaration order. Their doc comments name
// the other fields by their setting names, as a user sets them, rather
// than by their Go names.
func settingFields(t *testing.T, typ reflect.Type) []settingField {
	t.Helper()

	fields := structFields(t, typ)
	names := map[string]string{}
	for _, f := range fields {
		names[f.name] = f.yaml
		if env := f.tag.Get("env"); env != "" {
			names[f.name] = env
		}
	}

	// A name in capitals, such as TLS, is also the word of the field and
	// stays. Longer names go first, so that none replaces part of another.
	var goNames []string
	for name := range names {
		if name != strings.ToUpper(name) {
			goNames = append(goNames, regexp.QuoteMeta(name))
		}
	}
	slices.SortFunc(goNames, func(a, b string) int { return len(b) - len(a) })
	pattern := regexp.MustCompile(`\b(` + strings.Join(goNames, "|") + `)\b`)
	for i, f := range fields {
		doc := f.doc
		if rest, ok := strings.CutPrefix(doc, f.name+" "); ok {
			doc = names[f.name] + " " + rest // also a name in capitals, as a subject
		}
		fields[i].doc = pattern.ReplaceAllStringFunc(doc, func(m string) string { return names[m] })
	}
	return fields
}

// structFields returns the fields of typ that have a YAML key, inline
// structs included, in declaration order, with their doc comments.
func structFields(t *testing.T, typ reflect.Type) []settingField {
	t.Helper()

	docs := fieldDocs(t, typ)
	var fields []settingField
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			fields = append(fields, structFields(t, f.Type)...)
			continue
		}
		yaml, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if yaml == "" || yaml == "-" {
			continue
		}
		doc := docs[f.Name]
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			doc += " Each entry is a mapping with the keys " + strings.Join(yamlKeys(f.Type.Elem()), ", ") + "."
		}
		fields = append(fields, settingField{name: f.Name, yaml: yaml, tag: f.Tag, doc: doc})
	}
	return fields
}

// yamlKeys returns the YAML keys of the struct type typ, each marked when
// it is required.
func yamlKeys(typ reflect.Type) []string {
	var keys []string
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		if typ.Field(i).Tag.Get("required") == "true" {
			key += " (required)"
		}
		keys = append(keys, key)
	}
	return keys
}

// fieldDocs parses the package of the struct type typ and returns the doc
// comment of each of its fields. A field without a doc comment on the line
// right after another field shares that field's comment, as the three TLS
// files of source.Config do.
func fieldDocs(t *testing.T, typ reflect.Type) map[string]string {
	t.Helper()

	const module = "github.com/danube-messaging/danube-connect-go"
	dir := strings.TrimPrefix(strings.TrimPrefix(typ.PkgPath(), module), "/")
	if dir == "" {
		dir = "."
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.TypeSpec)
			if !ok || spec.Name.Name != typ.Name() {
				return true
			}
			doc, lastLine := "", 0
			for _, field := range spec.Type.(*ast.StructType).Fields.List {
				line := fset.Position(field.Pos()).Line
				if field.Doc != nil || line != lastLine+1 {
					doc = strings.Join(strings.Fields(field.Doc.Text()), " ")
				}
				lastLine = line
				for _, name := range field.Names {
					docs[name.Name] = doc
				}
			}
			return false
		})
	}
	if len(docs) == 0 {
		t.Fatalf("type %s not found in %s", typ.Name(), dir)
	}
	return docs
}

// settingsTable renders settings as a Markdown table.
func settingsTable(settings []setting) string {
	var b strings.Builder
	b.WriteString("| Variable | YAML key | Default | Meaning |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, s := range settings {
		variables := "(YAML only)"
		if len(s.envs) > 0 {
			variables = "`" + strings.Join(s.envs, "`<br>`") + "`"
		}
		value := s.value
		switch {
		case s.required:
			value = "required"
		case value != "":
			value = "`" + value + "`"
		}
		meaning := s.meaning
		if s.secret {
			meaning += " Secret: never logged."
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n",
			variables, strings.Join(s.keys, "`<br>`"), value, strings.ReplaceAll(meaning, "|", `\|`))
	}
	return b.String()
}
