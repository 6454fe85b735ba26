package config

import (
	"encoding"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redacted replaces the value of a secret that is set, in Describe and
// LogValue.
const Redacted = "REDACTED"

// Setting is one value of a configuration, as Describe reports it.
type Setting struct {
	// Key is the field's YAML path, such as batch_size or routes[0].topic.
	Key string
	// Env is the field's environment variable, "" when it has none.
	Env string
	// Value is the value in the form Load reads, Redacted for a secret
	// that is set, and "" for a zero value: unset, false, 0 or empty.
	// LogValue shows false and 0 as they are.
	Value string
}

// Describe returns every value field of the struct that cfg is or points
// to, in field order, for printing a configuration at start-up. Secrets
// show as Redacted. It panics if cfg is not a struct of a type Load
// accepts, which is a mistake in the program.
func Describe(cfg any) []Setting {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	spec, err := specOf(v.Type())
	if err != nil {
		panic(err)
	}
	var out []Setting
	ld := &loader{probs: newProblems()}
	ld.walk(v, spec, "", func(l *leaf) {
		s := Setting{Key: l.path, Env: l.env}
		switch {
		case l.v.IsZero():
		case l.secret:
			s.Value = Redacted
		default:
			s.Value = formatValue(l.fieldSpec, l.v)
		}
		out = append(out, s)
	})
	return out
}

// LogValue returns the configuration cfg as a group of attributes for
// slog, one per value field, secrets redacted as in Describe:
//
//	logger.Info("configuration", "config", config.LogValue(cfg))
//
// Unlike Describe, it shows zero values as they are, so that a setting
// set to false or 0 is distinguished from an empty one. A bool is a slog
// bool, an integer or a float a number, and a duration with a unit tag a
// whole number of that unit. Every other value, a duration without a unit
// included, is a string in the form Load reads: a list or map is its
// comma-separated text, "" when empty. A secret is Redacted when set and
// "" when empty.
func LogValue(cfg any) slog.Value {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	spec, err := specOf(v.Type())
	if err != nil {
		panic(err)
	}
	var attrs []slog.Attr
	ld := &loader{probs: newProblems()}
	ld.walk(v, spec, "", func(l *leaf) {
		attrs = append(attrs, slog.Attr{Key: l.path, Value: logValueOf(l)})
	})
	return slog.GroupValue(attrs...)
}

// logValueOf returns the value of one field for LogValue.
func logValueOf(l *leaf) slog.Value {
	v := l.v
	if l.secret {
		if v.IsZero() {
			return slog.StringValue("")
		}
		return slog.StringValue(Redacted)
	}
	if _, ok := v.Interface().(encoding.TextMarshaler); ok {
		return slog.StringValue(formatValue(l.fieldSpec, v))
	}

	switch {
	case v.Type() == durationType && l.unit != 0:
		return slog.Int64Value(v.Int() / int64(l.unit))
	case v.Type() == durationType:
		return slog.StringValue(formatValue(l.fieldSpec, v))
	}
	switch v.Kind() {
	case reflect.Bool:
		return slog.BoolValue(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return slog.Int64Value(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return slog.Uint64Value(v.Uint())
	case reflect.Float32, reflect.Float64:
		return slog.Float64Value(v.Float())
	}
	return slog.StringValue(formatValue(l.fieldSpec, v))
}

// formatValue returns v in the text form that Load reads back.
func formatValue(f *fieldSpec, v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return fmt.Sprint(v.Interface())
		}
		return string(b)
	}
	switch {
	case v.Type() == durationType && f.unit != 0:
		return strconv.FormatInt(v.Int()/int64(f.unit), 10)
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = formatValue(f, v.Index(i))
		}
		return strings.Join(items, ",")
	case v.Kind() == reflect.Map:
		pairs := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			pairs = append(pairs, it.Key().String()+"="+it.Value().String())
		}
		slices.Sort(pairs)
		return strings.Join(pairs, ",")
	}
	return fmt.Sprint(v.Interface())
}
