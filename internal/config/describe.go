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
	// that is set, and "" for an unset one.
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

// LogValue returns the configuration cfg as a group of key=value
// attributes for slog, secrets redacted as in Describe:
//
//	logger.Info("configuration", "config", config.LogValue(cfg))
func LogValue(cfg any) slog.Value {
	settings := Describe(cfg)
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		attrs = append(attrs, slog.String(s.Key, s.Value))
	}
	return slog.GroupValue(attrs...)
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
