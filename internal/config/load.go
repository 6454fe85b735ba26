package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Source names where Load reads a configuration from. The zero value reads
// the process environment and no file.
type Source struct {
	// File is the path of a YAML file, "" for none. A file that cannot be
	// read or parsed is a problem of the configuration, reported with the
	// others.
	File string
	// Lookup reads an environment variable; nil means os.LookupEnv. Tests
	// pass a map's lookup.
	Lookup func(name string) (string, bool)
}

// Validator is implemented by a configuration struct that checks what
// spans several fields, after every field was read and checked on its own.
type Validator interface {
	// Validate reports each problem through p, naming the field by its
	// YAML path, such as routes[0].topic. Load and Check call it once on
	// the pointer they were given, even when some fields had problems,
	// and return its problems with theirs. A field whose value did not
	// parse keeps its earlier value, and p.Add drops a further problem
	// reported for it.
	Validate(p *Problems)
}

// origin is the source of a field's value.
type origin uint8

const (
	originUnset origin = iota
	originDefault
	originFile
	originEnv
	originProgram // set by the program, for Check
)

// leaf is one value field of the configuration being loaded.
type leaf struct {
	*fieldSpec
	path   string
	v      reflect.Value
	origin origin
	line   int    // in the file, when origin is originFile
	raw    string // the text the value was read from, if any
}

// displayKey returns the key to name the field by in a problem.
func (l *leaf) displayKey() string {
	switch {
	case l.origin == originEnv:
		return l.env
	case l.origin == originFile:
		return l.path
	case l.env != "":
		return l.env
	}
	return l.path
}

// Load fills the struct that dst points to, in this order:
//
//  1. every field whose value is zero and whose tag `default:"..."` is
//     set takes that default, so a caller may preset fields before Load;
//  2. the YAML file, if Source.File is set, sets the fields it names by
//     their `yaml:"..."` keys. A key the struct does not have is a
//     problem, so that a misspelt key does not go unnoticed;
//  3. every environment variable named by a field's `env:"..."` tag and
//     set to something other than blanks overrides the field;
//  4. each field is checked against its tags `required:"true"`,
//     `min:"..."`, `max:"..."` and `oneof:"a|b|c"`, and then, when dst
//     implements Validator, Validate checks what spans fields.
//
// When the file's settings could not be read (the file cannot be read, is
// not valid YAML, contains more than one document or is not a mapping),
// the file may still contain the settings that look missing. Load then reports
// the file's problem and the problems of values from the environment
// alone: no required field is reported as missing, and of the problems
// that Validate reports, only those on a field set by the environment are
// kept.
//
// NOTE: such a kept problem can come from a check that compared the
// environment's value with a default that the file would have replaced.
//
// Load returns nil, or a *Error listing every problem of the
// configuration at once (matching ErrInvalid). It returns another error
// when dst is not a pointer to a struct Load can fill, which is a mistake
// in the program. A value that does not parse leaves the field as it was and is
// reported even when a later source sets the field.
//
// Values are read from text the same way from either source: numbers in
// decimal, booleans as strconv.ParseBool reads them, a time.Duration in Go
// syntax (500ms, 1m30s) or, with `unit:"ms"` or `unit:"s"`, as a whole
// number of that unit, lists as comma-separated items (or a YAML
// sequence), maps as comma-separated key=value pairs (or a YAML mapping),
// and any type with an UnmarshalText method through it. Nested structs are
// YAML mappings; a list of structs is a YAML sequence of mappings and has
// no environment variable. Embedded structs, and fields tagged
// `yaml:",inline"`, add their fields to the struct that holds them.
//
// The value of a field tagged `secret:"true"` never appears in a problem,
// nor in Describe.
func Load(dst any, src Source) error {
	v, spec, err := target(dst)
	if err != nil {
		return err
	}
	if src.Lookup == nil {
		src.Lookup = os.LookupEnv
	}

	ld := &loader{probs: newProblems()}
	ld.walk(v, spec, "", ld.applyDefault)
	if src.File != "" && !ld.readFile(src.File, v, spec) {
		ld.fileUnread = true
		ld.probs.envOnly = true
	}
	ld.walkTop(v, spec, "", func(l *leaf) { ld.applyEnv(l, src.Lookup) })
	ld.walk(v, spec, "", ld.check)
	return ld.finish(dst, src.File)
}

// Defaults sets every zero field of the struct that dst points to whose
// tag `default:"..."` is set, nested structs and lists of structs
// included. It returns an error only when dst is not a pointer to a
// struct Load can fill.
func Defaults(dst any) error {
	v, spec, err := target(dst)
	if err != nil {
		return err
	}
	ld := &loader{probs: newProblems()}
	ld.walk(v, spec, "", ld.applyDefault)
	return nil
}

// Check validates a configuration that the program filled itself: every
// field is checked against its tags as Load checks it, a zero number
// included, and then Validate runs. It changes nothing, and returns nil,
// a *Error, or an error when dst is not a pointer to a struct Load can
// fill.
func Check(dst any) error {
	v, spec, err := target(dst)
	if err != nil {
		return err
	}
	ld := &loader{probs: newProblems()}
	ld.walk(v, spec, "", func(l *leaf) {
		l.origin = originProgram
		ld.check(l)
	})
	return ld.finish(dst, "")
}

func target(dst any) (reflect.Value, *structSpec, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, nil, fmt.Errorf("config: need a non-nil pointer to a struct, got %T", dst)
	}
	spec, err := specOf(rv.Elem().Type())
	if err != nil {
		return reflect.Value{}, nil, err
	}
	return rv.Elem(), spec, nil
}

// finish runs Validate and returns the problems found, if any.
func (ld *loader) finish(dst any, file string) error {
	if val, ok := dst.(Validator); ok {
		val.Validate(ld.probs)
	}
	if len(ld.probs.list) == 0 {
		return nil
	}
	return &Error{File: file, Problems: ld.probs.list}
}

// loader holds the state of one Load.
type loader struct {
	probs *Problems
	// fileUnread is set when the file was named but its settings could
	// not be read, so a required field may be set in the file.
	fileUnread bool
}

// leafAt returns the leaf of the field at path, made on first use.
func (ld *loader) leafAt(path string, f *fieldSpec, v reflect.Value) *leaf {
	if l, ok := ld.probs.fields[path]; ok {
		l.v = v
		return l
	}
	l := &leaf{fieldSpec: f, path: path, v: v}
	ld.probs.fields[path] = l
	return l
}

// walk calls fn for every value field of the struct v, nested structs and
// the elements of lists of structs included.
func (ld *loader) walk(v reflect.Value, s *structSpec, prefix string, fn func(*leaf)) {
	for _, f := range s.fields {
		path := joinPath(prefix, f.key)
		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindLeaf:
			fn(ld.leafAt(path, f, fv))
		case kindStruct:
			ld.walk(fv, f.elem, path, fn)
		case kindStructSlice:
			for i := range fv.Len() {
				ld.walk(fv.Index(i), f.elem, fmt.Sprintf("%s[%d]", path, i), fn)
			}
		}
	}
}

// walkTop is walk without the lists of structs, which the environment
// cannot address.
func (ld *loader) walkTop(v reflect.Value, s *structSpec, prefix string, fn func(*leaf)) {
	for _, f := range s.fields {
		path := joinPath(prefix, f.key)
		fv := v.FieldByIndex(f.index)
		switch f.kind {
		case kindLeaf:
			fn(ld.leafAt(path, f, fv))
		case kindStruct:
			ld.walkTop(fv, f.elem, path, fn)
		}
	}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (ld *loader) applyDefault(l *leaf) {
	if !l.hasDef || !l.v.IsZero() {
		return
	}
	tmp := reflect.New(l.typ).Elem()
	if err := l.parse(tmp, l.def); err != nil {
		// Unreachable: specOf parsed every default tag already.
		ld.probs.add(l, fmt.Sprintf("invalid default %q: %v", l.def, err))
		return
	}
	l.v.Set(tmp)
	l.origin, l.raw = originDefault, l.def
}

func (ld *loader) applyEnv(l *leaf, lookup func(string) (string, bool)) {
	if l.env == "" {
		return
	}
	text, ok := lookup(l.env)
	if !ok || strings.TrimSpace(text) == "" {
		return
	}
	l.origin, l.line = originEnv, 0
	ld.set(l, text)
}

// set reads text into the field, or records why it cannot.
func (ld *loader) set(l *leaf, text string) {
	tmp := reflect.New(l.typ).Elem()
	if err := l.parse(tmp, text); err != nil {
		ld.probs.add(l, l.mismatch(text, err))
		return
	}
	l.v.Set(tmp)
	l.raw = text
}

// mismatch returns the message for text that does not fit the field.
func (l *leaf) mismatch(text string, err error) string {
	var msg string
	switch {
	case l.secret:
		// The parse error can quote the text: a TextUnmarshaler's own
		// message, or the key of a key=value pair.
		msg = "must be " + l.want()
	case errors.Is(err, errNotText):
		msg = "must be " + l.want()
	case reflect.PointerTo(l.typ).Implements(textUnmarshalerType):
		msg = err.Error() // the type's own message names what it accepts
	default:
		msg = "must be " + l.want() + " (" + err.Error() + ")"
	}
	if l.secret {
		return msg
	}
	return fmt.Sprintf("%s, got %q", msg, strings.TrimSpace(text))
}

// check applies the field's own constraints to its final value.
func (ld *loader) check(l *leaf) {
	if ld.probs.invalid[l.path] {
		return
	}
	empty := l.v.IsZero() || (l.v.Kind() == reflect.Slice || l.v.Kind() == reflect.Map) && l.v.Len() == 0
	if empty && l.required {
		if !ld.fileUnread {
			ld.probs.add(l, l.missing())
		}
		return
	}
	// A number set to zero is checked against its bounds; anything else
	// that is empty, or a number never set, is simply not configured.
	if empty && (l.origin == originUnset || !isNumeric(l.typ)) {
		return
	}

	if l.oneof != nil && l.v.Kind() == reflect.String {
		for _, ok := range l.oneof {
			if l.v.String() == ok {
				return
			}
		}
		ld.probs.add(l, l.mismatch(l.text(), errNotText))
		return
	}
	if l.outOfRange() {
		ld.probs.add(l, l.mismatch(l.text(), errNotText))
	}
}

// missing returns the message for a required field that is not set.
func (l *leaf) missing() string {
	if l.env != "" {
		return fmt.Sprintf("missing: set %s, or %s in the configuration file", l.env, l.path)
	}
	return fmt.Sprintf("missing: set %s in the configuration file", l.path)
}

// text returns the value as the user gave it, or formatted.
func (l *leaf) text() string {
	if l.raw != "" {
		return l.raw
	}
	return formatValue(l.fieldSpec, l.v)
}

// outOfRange reports whether a numeric value lies outside min and max.
func (l *leaf) outOfRange() bool {
	if l.min == "" && l.max == "" {
		return false
	}
	bound := func(text string) reflect.Value {
		b := reflect.New(l.typ).Elem()
		_ = l.parse(b, text) // checked by specOf
		return b
	}
	cmp := func(b reflect.Value) int {
		switch l.v.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return compare(l.v.Int(), b.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return compare(l.v.Uint(), b.Uint())
		case reflect.Float32, reflect.Float64:
			return compare(l.v.Float(), b.Float())
		}
		return 0
	}
	if l.min != "" && cmp(bound(l.min)) < 0 {
		return true
	}
	return l.max != "" && cmp(bound(l.max)) > 0
}

func compare[T int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
