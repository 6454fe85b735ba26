package main

import (
	"fmt"
	"io"
	"reflect"

	"github.com/danube-messaging/danube-connect-go/internal/config"
	"github.com/danube-messaging/danube-connect-go/internal/confighelp"
	"github.com/danube-messaging/danube-connect-go/sink"
)

//go:generate go test -run TestSettingDocsAreCurrent -update .

// routesKey is the YAML key of the list of routes, a setting of the file
// only.
const routesKey = "routes"

// writeHelp writes the help: what the program does, its flags, and every
// setting with its variable, YAML key, default and meaning. The settings,
// their keys and defaults come from the configuration structs through
// package config, and their meanings from the doc comments of the same
// structs (settingDocs, generated), so the help cannot drift from the
// code. Package confighelp writes the entries.
func writeHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [-config FILE]\n\n", programName)
	confighelp.WriteParagraph(w, "", "Consumes Danube topics and writes their messages to MongoDB, acknowledging "+
		"each message once it is stored. Settings come from environment variables and, with -config, "+
		"from a YAML file whose keys are the variable names in lower case (batch_size: 500); a "+
		"variable that is set overrides the file. Every problem of the configuration is reported at once.")
	confighelp.WriteParagraph(w, "", "The process logs JSON lines to standard error and serves /metrics (Prometheus), "+
		"/healthz and /readyz on METRICS_PORT. SIGTERM or SIGINT drains it: what was received is written "+
		"and acknowledged within DRAIN_TIMEOUT_MS, the rest nacked for redelivery, and it exits 0. A second "+
		"signal forces the stop.")

	fmt.Fprintf(w, "Flags:\n")
	fmt.Fprintf(w, "  -config FILE\n")
	confighelp.WriteParagraph(w, "      ", "Read the settings from the YAML file FILE; "+sink.EnvConfigPath+" names one too.")
	fmt.Fprintf(w, "  -h, -help\n")
	confighelp.WriteParagraph(w, "      ", "Print this help and exit.")

	var defaults Config
	if err := config.Defaults(&defaults); err != nil {
		panic(err) // the tags of Config are wrong: a bug the tests catch
	}
	tags := confighelp.Tags(reflect.TypeFor[Config]())
	mongo := confighelp.Tags(reflect.TypeFor[mongoConfig]())
	var runtime, connector []config.Setting
	for _, s := range config.Describe(&defaults) {
		if _, ok := mongo[s.Env]; ok {
			connector = append(connector, s)
		} else {
			runtime = append(runtime, s)
		}
	}

	fmt.Fprintf(w, "Danube and runtime settings:\n\n")
	confighelp.WriteSettings(w, runtime, tags, settingDocs)
	confighelp.WriteFileOnly(w, routesKey, settingDocs[routesKey])

	fmt.Fprintf(w, "MongoDB settings:\n\n")
	confighelp.WriteSettings(w, connector, tags, settingDocs)

	confighelp.WriteParagraph(w, "", "Exit status: 0 after a clean stop or this help, 1 after a failure or a drain "+
		"that missed its deadline, 2 for an invalid configuration or command line, 128+N when a second "+
		"signal N forced the stop.")
}
