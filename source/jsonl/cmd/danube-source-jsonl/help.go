package main

import (
	"fmt"
	"io"
	"reflect"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/confighelp"
	"github.com/danube-messaging/danube-connect-go/source"
	"github.com/danube-messaging/danube-connect-go/source/jsonl"
)

//go:generate go test -run TestSettingDocsAreCurrent -update .

// routesKey is the YAML key of the list of further topics, a setting of
// the file only.
const routesKey = "routes"

// writeHelp writes the help: what the program does, its flags, and every
// setting with its variable, YAML key, default and meaning. The settings,
// their keys and defaults come from jsonl.Config through package config,
// and their meanings from the doc comments of the configuration structs
// (settingDocs, generated), so the help cannot drift from the code.
func writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n", programName)
	confighelp.WriteParagraph(w, "", "Publishes the lines of a JSON-lines file to a Danube topic, one message "+
		"per line, following the file as it grows. The position of the last line the broker acknowledged is "+
		"committed to a checkpoint file, so that a restart, even after a kill, resumes without losing a line; "+
		"lines published after the last commit are published again.")
	confighelp.WriteParagraph(w, "", "Settings come from environment variables and from the YAML file that "+
		source.EnvConfigPath+" names, if set; a variable that is set overrides the file. Every problem of "+
		"the configuration is reported at once.")
	confighelp.WriteParagraph(w, "", "The process logs JSON lines to standard error and serves /metrics "+
		"(Prometheus), /healthz and /readyz on METRICS_PORT. SIGTERM or SIGINT drains it: the lines read are "+
		"published and the position committed within DRAIN_TIMEOUT_MS, and it exits 0, or 1 when some lines "+
		"could not be published in time (the next start reads them again). A second signal forces the stop.")

	fmt.Fprintf(w, "Flags:\n")
	fmt.Fprintf(w, "  -h, -help\n")
	confighelp.WriteParagraph(w, "      ", "Print this help and exit.")

	var defaults jsonl.Config
	if err := config.Defaults(&defaults); err != nil {
		panic(err) // the tags of jsonl.Config are wrong: a bug the tests catch
	}
	tags := confighelp.Tags(reflect.TypeFor[jsonl.Config]())
	runtimeTags := confighelp.Tags(reflect.TypeFor[source.Config]())
	var runtime, file []config.Setting
	for _, s := range config.Describe(&defaults) {
		if _, ok := runtimeTags[s.Env]; ok {
			runtime = append(runtime, s)
		} else {
			file = append(file, s)
		}
	}

	fmt.Fprintf(w, "Danube and runtime settings:\n\n")
	confighelp.WriteSettings(w, runtime, tags, settingDocs)
	confighelp.WriteFileOnly(w, routesKey, settingDocs[routesKey])

	fmt.Fprintf(w, "JSON-lines file settings:\n\n")
	confighelp.WriteSettings(w, file, tags, settingDocs)

	confighelp.WriteParagraph(w, "", "Exit status: 0 after a clean stop, the end of the file without "+
		"JSONL_FOLLOW, or this help; 1 after a failure or a drain that missed its deadline; 2 for an "+
		"invalid configuration or command line; 128+N when a second signal N forced the stop.")
}
