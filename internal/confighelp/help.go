package confighelp

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/danube-messaging/danube-connect-go/internal/config"
)

// Width is the column at which WriteParagraph wraps.
const Width = 78

// entryIndent is the indentation of a setting's meaning under its entry.
const entryIndent = "      "

// WriteSettings writes one entry for each setting: its variable, YAML key,
// notes and default on one line, then its meaning, docs[s.Env], as a
// paragraph. The notes include "required" and "secret, never logged" when
// the setting's tag in tags (by variable, see Tags) sets them. Consecutive
// settings with the same meaning, such as the three TLS files, share one
// paragraph, written after the last of them.
func WriteSettings(w io.Writer, settings []config.Setting, tags map[string]reflect.StructTag, docs map[string]string) {
	for i, s := range settings {
		var notes []string
		if tags[s.Env].Get("required") == "true" {
			notes = append(notes, "required")
		}
		if tags[s.Env].Get("secret") == "true" {
			notes = append(notes, "secret, never logged")
		}
		if s.Value != "" {
			notes = append(notes, "default "+s.Value)
		}
		line := fmt.Sprintf("  %s (%s)", s.Env, s.Key)
		if len(notes) > 0 {
			line += "  " + strings.Join(notes, ", ")
		}
		fmt.Fprintln(w, line)

		doc := docs[s.Env]
		if i+1 < len(settings) && docs[settings[i+1].Env] == doc {
			continue
		}
		WriteParagraph(w, entryIndent, doc)
	}
}

// WriteFileOnly writes the entry of a setting of the YAML file only, such
// as a list of routes: its key, marked "(YAML only)", and its meaning.
func WriteFileOnly(w io.Writer, key, doc string) {
	fmt.Fprintf(w, "  %s (YAML only)\n", key)
	WriteParagraph(w, entryIndent, doc)
}

// WriteParagraph writes text wrapped at Width, each line after indent,
// and a blank line. A word longer than a line gets a line of its own.
func WriteParagraph(w io.Writer, indent, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > Width {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	fmt.Fprintf(w, "%s\n\n", line)
}

// Tags returns the struct tags of every setting of the struct type t, by
// environment variable, with those of embedded and inline structs.
func Tags(t reflect.Type) map[string]reflect.StructTag {
	tags := make(map[string]reflect.StructTag)
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && (f.Anonymous || strings.Contains(f.Tag.Get("yaml"), "inline")) {
			for env, tag := range Tags(f.Type) {
				tags[env] = tag
			}
			continue
		}
		if env := f.Tag.Get("env"); env != "" {
			tags[env] = f.Tag
		}
	}
	return tags
}
