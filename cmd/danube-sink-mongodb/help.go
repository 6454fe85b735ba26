package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/sink"
)

//go:generate go test -run TestSettingDocsAreCurrent -update .

// helpWidth is the column at which the help wraps its paragraphs.
const helpWidth = 78

// routesKey is the YAML key of the list of routes, a setting of the file
// only.
const routesKey = "routes"

// writeHelp writes the help: what the program does, its flags, and every
// setting with its variable, YAML key, default and meaning. The settings,
// their keys and defaults come from the configuration structs through
// package config, and their meanings from the doc comments of the same
// structs (settingDocs, generated), so the help cannot drift from the
// code.
func writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [-config FILE]\n\n", programName)
	writeParagraph(w, "", "Consumes Danube topics and writes their messages to MongoDB, acknowledging "+
		"each message once it is stored. Settings come from environment variables and, with -config, "+
		"from a YAML file whose keys are the variable names in lower case (batch_size: 500); a "+
		"variable that is set overrides the file. Every problem of the configuration is reported at once.")
	writeParagraph(w, "", "The process logs JSON lines to standard error and serves /metrics (Prometheus), "+
		"/healthz and /readyz on METRICS_PORT. SIGTERM or SIGINT drains it: what was received is written "+
		"and acknowledged within DRAIN_TIMEOUT_MS, the rest nacked for redelivery, and it exits 0. A second "+
		"signal forces the stop.")

	fmt.Fprintf(w, "Flags:\n")
	fmt.Fprintf(w, "  -config FILE\n")
	writeParagraph(w, "      ", "Read the settings from the YAML file FILE; "+sink.EnvConfigPath+" names one too.")
	fmt.Fprintf(w, "  -h, -help\n")
	writeParagraph(w, "      ", "Print this help and exit.")

	var defaults Config
	if err := config.Defaults(&defaults); err != nil {
		panic(err) // the tags of Config are wrong: a bug the tests catch
	}
	tags := settingTags(reflect.TypeFor[Config]())
	mongo := settingTags(reflect.TypeFor[mongoConfig]())
	var runtime, connector []config.Setting
	for _, s := range config.Describe(&defaults) {
		if _, ok := mongo[s.Env]; ok {
			connector = append(connector, s)
		} else {
			runtime = append(runtime, s)
		}
	}

	fmt.Fprintf(w, "Danube and runtime settings:\n\n")
	writeSettings(w, runtime, tags)
	fmt.Fprintf(w, "  %s (YAML only)\n", routesKey)
	writeParagraph(w, "      ", settingDocs[routesKey])

	fmt.Fprintf(w, "MongoDB settings:\n\n")
	writeSettings(w, connector, tags)

	writeParagraph(w, "", "Exit status: 0 after a clean stop or this help, 1 after a failure or a drain "+
		"that missed its deadline, 2 for an invalid configuration or command line, 128+N when a second "+
		"signal N forced the stop.")
}

// writeSettings writes one entry for each setting: its variable, YAML
// key, notes and default, then its meaning. Settings documented together,
// such as the three TLS files, share one paragraph.
func writeSettings(w io.Writer, settings []config.Setting, tags map[string]reflect.StructTag) {
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

		doc := settingDocs[s.Env]
		if i+1 < len(settings) && settingDocs[settings[i+1].Env] == doc {
			continue
		}
		writeParagraph(w, "      ", doc)
	}
}

// writeParagraph writes text wrapped at helpWidth, each line after indent,
// and a blank line.
func writeParagraph(w io.Writer, indent, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > helpWidth {
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

// settingTags returns the struct tags of every setting of the struct type
// t, inline structs included, by environment variable.
func settingTags(t reflect.Type) map[string]reflect.StructTag {
	tags := make(map[string]reflect.StructTag)
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct && (f.Anonymous || strings.Contains(f.Tag.Get("yaml"), "inline")) {
			for env, tag := range settingTags(f.Type) {
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
