package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// kind is how Load treats a struct field.
type kind uint8

const (
	kindLeaf        kind = iota // a value read from text
	kindStruct                  // a nested struct: a YAML mapping
	kindStructSlice             // a list of structs: a YAML sequence of mappings
)

// fieldSpec is the meaning of one struct field's tags, resolved once per
// type.
type fieldSpec struct {
	index    []int  // through inline structs
	key      string // YAML key
	env      string // environment variable, "" for none
	secret   bool
	required bool
	unit     time.Duration // for a time.Duration read as a count of this unit; 0 for Go syntax
	min, max string        // bounds, in the field's own text form
	oneof    []string
	def      string
	hasDef   bool
	kind     kind
	typ      reflect.Type
	elem     *structSpec // for kindStruct and kindStructSlice
}

// structSpec lists the fields of a struct type, inline structs flattened.
type structSpec struct {
	fields []*fieldSpec
	byKey  map[string]*fieldSpec
}

var specs sync.Map // reflect.Type -> *structSpec

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// specOf returns the spec of struct type t, or an error naming the first
// field whose tags or type Load cannot handle: a mistake in the program,
// not in the configuration.
func specOf(t reflect.Type) (*structSpec, error) {
	if s, ok := specs.Load(t); ok {
		return s.(*structSpec), nil
	}
	s := &structSpec{byKey: make(map[string]*fieldSpec)}
	if err := s.add(t, nil); err != nil {
		return nil, err
	}
	got, _ := specs.LoadOrStore(t, s)
	return got.(*structSpec), nil
}

func (s *structSpec) add(t reflect.Type, index []int) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		// An embedded struct of an unexported type still lends its
		// exported fields.
		if !sf.IsExported() && !(sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			continue
		}
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)

		inline := strings.Contains(opts, "inline") || (sf.Anonymous && name == "" && sf.Tag.Get("env") == "")
		if inline {
			if sf.Type.Kind() != reflect.Struct {
				return fmt.Errorf("config: field %s of %v: only a struct, not a pointer, can be inline", sf.Name, t)
			}
			if err := s.add(sf.Type, idx); err != nil {
				return err
			}
			continue
		}

		f, err := newFieldSpec(t, sf, name, idx)
		if err != nil {
			return err
		}
		if _, dup := s.byKey[f.key]; dup {
			return fmt.Errorf("config: field %s of %v: YAML key %q is used twice", sf.Name, t, f.key)
		}
		s.byKey[f.key] = f
		s.fields = append(s.fields, f)
	}
	return nil
}

func newFieldSpec(parent reflect.Type, sf reflect.StructField, name string, index []int) (*fieldSpec, error) {
	f := &fieldSpec{
		index:    index,
		key:      name,
		env:      sf.Tag.Get("env"),
		secret:   sf.Tag.Get("secret") == "true",
		required: sf.Tag.Get("required") == "true",
		min:      sf.Tag.Get("min"),
		max:      sf.Tag.Get("max"),
		typ:      sf.Type,
	}
	f.def, f.hasDef = sf.Tag.Lookup("default")
	if v := sf.Tag.Get("oneof"); v != "" {
		f.oneof = strings.Split(v, "|")
	}
	if f.key == "" {
		f.key = strings.ToLower(f.env)
	}
	if f.key == "" {
		f.key = snakeCase(sf.Name)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("config: field %s of %v: "+format, append([]any{sf.Name, parent}, args...)...)
	}

	if u := sf.Tag.Get("unit"); u != "" {
		if sf.Type != durationType {
			return nil, bad("unit is only for time.Duration")
		}
		switch u {
		case "ms":
			f.unit = time.Millisecond
		case "s":
			f.unit = time.Second
		default:
			return nil, bad("unknown unit %q: want ms or s", u)
		}
	}

	switch {
	case isScalar(sf.Type):
		f.kind = kindLeaf
	case sf.Type.Kind() == reflect.Slice && isScalar(sf.Type.Elem()):
		f.kind = kindLeaf
	case sf.Type.Kind() == reflect.Map && sf.Type.Key().Kind() == reflect.String && sf.Type.Elem().Kind() == reflect.String:
		f.kind = kindLeaf
	case sf.Type.Kind() == reflect.Struct:
		f.kind = kindStruct
	case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct:
		f.kind = kindStructSlice
	default:
		return nil, bad("unsupported type %v", sf.Type)
	}

	if f.kind != kindLeaf {
		if f.env != "" || f.hasDef || f.secret || f.min != "" || f.max != "" || f.oneof != nil {
			return nil, bad("the env, default, secret, min, max and oneof tags are for values, not for %v", sf.Type)
		}
		t := sf.Type
		if f.kind == kindStructSlice {
			t = t.Elem()
		}
		elem, err := specOf(t)
		if err != nil {
			return nil, err
		}
		f.elem = elem
		return f, nil
	}

	// Check the tags now, so that a typo in them fails every Load rather
	// than only a Load that reaches the check.
	probe := reflect.New(sf.Type).Elem()
	for tag, text := range map[string]string{"default": f.def, "min": f.min, "max": f.max} {
		if text == "" {
			continue
		}
		if tag != "default" && !isNumeric(sf.Type) {
			return nil, bad("%s is only for numbers and durations", tag)
		}
		if err := f.parse(probe, text); err != nil {
			return nil, bad("invalid %s tag %q: %v", tag, text, err)
		}
	}
	return f, nil
}

// isScalar reports whether a value of t is read from one piece of text.
func isScalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func isNumeric(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// snakeCase turns a Go field name such as MaxRetries into max_retries.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prev := rune(name[i-1])
			nextLower := i+1 < len(name) && name[i+1] >= 'a' && name[i+1] <= 'z'
			if (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9') || (prev >= 'A' && prev <= 'Z' && nextLower) {
				b.WriteByte('_')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// parse sets v, a value of the field's type, from text, or returns why it
// cannot, without quoting text.
func (f *fieldSpec) parse(v reflect.Value, text string) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Slice:
		return f.parseItems(v, splitList(text))
	case t.Kind() == reflect.Map:
		m, err := parsePairs(text)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(m).Convert(t))
		return nil
	}
	return f.parseScalar(v, text)
}

// parseItems sets the list v from its items' text.
func (f *fieldSpec) parseItems(v reflect.Value, items []string) error {
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		if err := f.parseScalar(out.Index(i), item); err != nil {
			return fmt.Errorf("item %d: %w", i+1, err)
		}
	}
	v.Set(out)
	return nil
}

// errNotText is the generic parse failure. The caller's message names
// what was expected.
var errNotText = fmt.Errorf("does not parse")

func (f *fieldSpec) parseScalar(v reflect.Value, text string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(strings.TrimSpace(text)))
	}
	t := v.Type()
	text = strings.TrimSpace(text)
	switch {
	case t == durationType:
		if f.unit != 0 {
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil || n > int64(1<<63-1)/int64(f.unit) || n < -int64(1<<63-1)/int64(f.unit) {
				return errNotText
			}
			v.SetInt(n * int64(f.unit))
			return nil
		}
		d, err := time.ParseDuration(text)
		if err != nil {
			return errNotText
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return errNotText
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, t.Bits())
		if err != nil {
			return errNotText
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, t.Bits())
		if err != nil {
			return errNotText
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, t.Bits())
		if err != nil {
			return errNotText
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("unsupported type %v", t)
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(text string) []string {
	var out []string
	for item := range strings.SplitSeq(text, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePairs reads key=value pairs separated by commas.
func parsePairs(text string) (map[string]string, error) {
	m := make(map[string]string)
	for i, item := range splitList(text) {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("item %d is not key=value", i+1)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("key %q is given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

// want describes the values the field accepts, for messages such as
// "must be a positive integer".
func (f *fieldSpec) want() string {
	t := f.typ
	if t.Kind() == reflect.Slice && isScalar(t.Elem()) {
		return "a comma-separated list"
	}
	if t.Kind() == reflect.Map {
		return "a comma-separated list of key=value pairs"
	}
	if f.oneof != nil {
		return "one of " + orList(f.oneof)
	}
	switch {
	case t == durationType && f.unit == time.Millisecond:
		return f.bounded("number of milliseconds")
	case t == durationType && f.unit == time.Second:
		return f.bounded("number of seconds")
	case t == durationType:
		return f.bounded("duration") + " such as 500ms or 1m30s"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return f.bounded("integer")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f.min == "" {
			f := *f
			f.min = "0"
			return f.bounded("integer")
		}
		return f.bounded("integer")
	case reflect.Float32, reflect.Float64:
		return f.bounded("number")
	}
	return "a valid value"
}

// bounded returns "a positive integer", "an integer from 1 to 100" and the
// like for noun and the field's bounds.
func (f *fieldSpec) bounded(noun string) string {
	switch {
	case f.min == "1" && f.max == "":
		return "a positive " + noun
	case f.min == "0" && f.max == "":
		return "a non-negative " + noun
	case f.min != "" && f.max != "":
		return article(noun) + " from " + f.min + " to " + f.max
	case f.min != "":
		return article(noun) + " of at least " + f.min
	case f.max != "":
		return article(noun) + " of at most " + f.max
	}
	return article(noun)
}

func article(noun string) string {
	if strings.IndexByte("aeiou", noun[0]) >= 0 {
		return "an " + noun
	}
	return "a " + noun
}

// orList joins items as "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
