// Package config loads the configuration of a connector from its defaults,
// a YAML file and the environment, in that order of precedence from
// lowest to highest, and reports every problem at once.
//
// A configuration is a struct whose tags name where each value comes from
// and what it may be:
//
//	type Config struct {
//		ServiceURL string        `env:"DANUBE_SERVICE_URL" yaml:"danube_service_url" required:"true"`
//		Token      string        `env:"DANUBE_TOKEN" yaml:"danube_token" secret:"true"`
//		BatchSize  int           `env:"BATCH_SIZE" yaml:"batch_size" default:"1000" min:"1"`
//		Timeout    time.Duration `env:"BATCH_TIMEOUT_MS" yaml:"batch_timeout_ms" unit:"ms" default:"1000" min:"1"`
//		Routes     []Route       `yaml:"routes"`
//	}
//
//	var cfg Config
//	err := config.Load(&cfg, config.Source{File: os.Getenv("CONNECTOR_CONFIG_PATH")})
//
// A failed Load returns a *Error whose problems each name the setting the
// way the user wrote it, the environment variable or the YAML path with
// its line, and say what was expected:
//
//	invalid configuration (file sink.yaml and environment): 2 problems
//		BATCH_SIZE: must be a positive integer, got "abc"
//		routes[1].subscription_type (line 9): must be Exclusive, Shared, Failover or KeyShared, got "Queue"
//
// A struct checks what spans several fields by implementing Validator. A
// field tagged secret:"true" never shows its value in a problem, in
// Describe or in LogValue, so a configuration can be logged at start-up.
//
// The sink and source runtimes load their configuration with this package,
// and a connector can embed the runtime's configuration struct in its own
// to read both from one file.
package config
