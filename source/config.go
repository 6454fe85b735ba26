package source

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/config"
)

// EnvConfigPath names the environment variable that LoadConfig reads the
// path of the YAML file from, the name the Rust connector framework uses.
const EnvConfigPath = "CONNECTOR_CONFIG_PATH"

// Config is the configuration of a source connector process. Each field
// has an environment variable, named in its tag, and a YAML key in snake
// case. LoadConfig reads both, the environment overriding the file. A
// connector with settings of its own embeds Config in its configuration
// struct and reads both with LoadConfigInto.
//
// Options and ClientOptions turn a Config into what New and
// danube.NewClient take.
type Config struct {
	// ServiceURL is the broker's gRPC address, such as
	// http://danube-broker:6650. Required.
	ServiceURL string `env:"DANUBE_SERVICE_URL" yaml:"danube_service_url" required:"true"`
	// ConnectorName names the connector in logs, metrics and the names of
	// its producers. Required.
	ConnectorName string `env:"CONNECTOR_NAME" yaml:"connector_name" required:"true"`

	// Token is a bearer token sent with every call to the broker. Setting
	// it turns TLS on with the system's roots unless Insecure is set.
	Token string `env:"DANUBE_TOKEN" yaml:"danube_token" secret:"true"`
	// TLS turns TLS on, verifying the broker with the system's roots or
	// TLSCAFile.
	TLS bool `env:"DANUBE_TLS" yaml:"danube_tls"`
	// TLSCAFile, TLSCertFile and TLSKeyFile are PEM files: the CA that
	// signed the broker's certificate, and a client certificate and key
	// for mutual TLS. Any of them turns TLS on.
	TLSCAFile   string `env:"DANUBE_TLS_CA_FILE" yaml:"danube_tls_ca_file"`
	TLSCertFile string `env:"DANUBE_TLS_CERT_FILE" yaml:"danube_tls_cert_file"`
	TLSKeyFile  string `env:"DANUBE_TLS_KEY_FILE" yaml:"danube_tls_key_file"`
	// Insecure keeps connections in plain text even with a Token, for a
	// broker behind a trusted local proxy. The token then travels in
	// clear text.
	Insecure bool `env:"DANUBE_INSECURE" yaml:"danube_insecure"`

	// Topic is the default topic, for records that name none. Required.
	Topic string `env:"DANUBE_TOPIC" yaml:"danube_topic" required:"true"`
	// Partitions is the default topic's partition count, 0 for none.
	Partitions int `env:"TOPIC_PARTITIONS" yaml:"topic_partitions" min:"0" max:"10000"`
	// ReliableDispatch publishes to the default topic with reliable
	// dispatch, which stores messages until they are acknowledged. It must
	// match the topic's strategy.
	ReliableDispatch bool `env:"RELIABLE_DISPATCH" yaml:"reliable_dispatch" default:"true"`
	// Routes configures further topics that records name, in the YAML
	// file only.
	Routes []RouteConfig `yaml:"routes"`

	// MaxRetries is how many times a failed send is retried before the
	// run stops, how many Poll failures in a row are retried, and how many
	// times a run retries creating its producer at start.
	MaxRetries int `env:"MAX_RETRIES" yaml:"max_retries" default:"5" min:"0" max:"100"`
	// RetryBackoff is the wait before the first retry, doubled for each
	// later one up to 30 s.
	RetryBackoff time.Duration `env:"RETRY_BACKOFF_MS" yaml:"retry_backoff_ms" unit:"ms" default:"500" min:"1"`
	// SendTimeout bounds one attempt to publish a batch, and one attempt to
	// create the producer at start.
	SendTimeout time.Duration `env:"SEND_TIMEOUT_MS" yaml:"send_timeout_ms" unit:"ms" default:"30000" min:"1"`
	// BatchSize is the most records published together, all in flight at
	// once.
	BatchSize int `env:"BATCH_SIZE" yaml:"batch_size" default:"256" min:"1"`
	// BatchTimeout is the longest a record waits for its batch to fill. A
	// batch is also sent as soon as the connector has no more records
	// ready.
	BatchTimeout time.Duration `env:"BATCH_TIMEOUT_MS" yaml:"batch_timeout_ms" unit:"ms" default:"100" min:"1"`
	// MaxInFlight bounds the sends in flight per topic; 1 keeps the
	// connector's order in the topic.
	MaxInFlight int `env:"MAX_IN_FLIGHT" yaml:"max_in_flight" default:"256" min:"1"`

	// PollInterval is the wait after a poll that found nothing.
	PollInterval time.Duration `env:"POLL_INTERVAL_MS" yaml:"poll_interval_ms" unit:"ms" default:"1000" min:"1"`
	// CheckpointInterval is the interval of checkpoint commits.
	CheckpointInterval time.Duration `env:"CHECKPOINT_INTERVAL_MS" yaml:"checkpoint_interval_ms" unit:"ms" default:"5000" min:"1"`
	// CheckpointEvery also commits each time this many records were
	// acknowledged since the last commit; 0 commits on the interval only.
	CheckpointEvery int `env:"CHECKPOINT_EVERY" yaml:"checkpoint_every" default:"1000" min:"0"`
	// DrainTimeout bounds the stop after SIGTERM: records taken are
	// published, the checkpoint committed and the connector closed within
	// it. Records not published in time make the process exit 1.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT_MS" yaml:"drain_timeout_ms" unit:"ms" default:"30000" min:"1"`

	// MetricsPort is the port of the process's /metrics, /healthz and
	// /readyz endpoints.
	MetricsPort int `env:"METRICS_PORT" yaml:"metrics_port" default:"9090" min:"1" max:"65535"`
	// MetricsHost is the address the /metrics, /healthz and /readyz
	// endpoints listen on, such as 127.0.0.1 to keep them off the network.
	// Empty means every interface, so that they can be scraped from
	// outside a container.
	MetricsHost string `env:"METRICS_HOST" yaml:"metrics_host"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" yaml:"log_level" default:"info" oneof:"debug|info|warn|error"`
}

// RouteConfig configures one more topic that records may name.
type RouteConfig struct {
	// Topic is the topic, "/namespace/name". Required.
	Topic string `yaml:"topic" required:"true"`
	// Partitions is its partition count, 0 for none.
	Partitions int `yaml:"partitions" min:"0" max:"10000"`
	// ReliableDispatch publishes to it with reliable dispatch.
	ReliableDispatch bool `yaml:"reliable_dispatch" default:"true"`
}

// LoadConfig reads the configuration from the YAML file at path, if path
// is not empty, and from the environment, which overrides the file. An
// empty path means the file named by CONNECTOR_CONFIG_PATH, if set. It
// returns every problem at once in one error, each naming its key as the
// user wrote it, such as `BATCH_SIZE: must be a positive integer, got
// "abc"`. No problem shows the token.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	err := LoadConfigInto(&cfg, path)
	return cfg, err
}

// LoadConfigInto is LoadConfig for a connector's own configuration struct,
// which embeds Config and adds fields tagged the same way (env, yaml,
// default, required, min, max, oneof, secret, unit). dst must point to
// such a struct. A struct that implements Validate(*config.Problems)
// checks what spans its fields.
func LoadConfigInto(dst any, path string) error {
	return loadConfigInto(dst, path, os.LookupEnv)
}

func loadConfigInto(dst any, path string, lookup func(string) (string, bool)) error {
	if path == "" {
		path, _ = lookup(EnvConfigPath)
		path = strings.TrimSpace(path)
	}
	return config.Load(dst, config.Source{File: path, Lookup: lookup})
}

// Validate reports the problems that span several fields. LoadConfig
// calls it after it checked each field on its own.
func (c *Config) Validate(p *config.Problems) {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		p.Add("danube_tls_cert_file", "mutual TLS needs both DANUBE_TLS_CERT_FILE and DANUBE_TLS_KEY_FILE")
	}
	if strings.Contains(c.ConnectorName, "/") {
		p.Add("connector_name", "must not contain '/', got %q", c.ConnectorName)
	}
	if c.Topic != "" {
		if err := danube.ValidateTopic(c.Topic); err != nil {
			p.Add("danube_topic", "invalid topic %q: %v", c.Topic, err)
		}
	}
	seen := map[string]string{c.Topic: "danube_topic"}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d].topic", i)
		if r.Topic == "" {
			continue // reported as missing already
		}
		if err := danube.ValidateTopic(r.Topic); err != nil {
			p.Add(path, "invalid topic %q: %v", r.Topic, err)
			continue
		}
		if first, dup := seen[r.Topic]; dup {
			p.Add(path, "repeats the topic of %s", first)
			continue
		}
		seen[r.Topic] = path
	}
}

// Options returns the runtime options the configuration sets. The caller
// adds what a file cannot hold: Clock, Logger, Instrumentation.
func (c *Config) Options() Options {
	o := Options{
		Topic:              c.Topic,
		Partitions:         c.Partitions,
		NonReliable:        !c.ReliableDispatch,
		ConnectorName:      c.ConnectorName,
		BatchSize:          c.BatchSize,
		BatchTimeout:       c.BatchTimeout,
		MaxInFlight:        c.MaxInFlight,
		MaxRetries:         c.MaxRetries,
		RetryBackoff:       c.RetryBackoff,
		SendTimeout:        c.SendTimeout,
		PollInterval:       c.PollInterval,
		CheckpointInterval: c.CheckpointInterval,
		CheckpointEvery:    c.CheckpointEvery,
		DrainTimeout:       c.DrainTimeout,
	}
	// Zero means the default in Options, but none in the configuration.
	if c.MaxRetries == 0 {
		o.MaxRetries = NoRetries
	}
	if c.CheckpointEvery == 0 {
		o.CheckpointEvery = NoCheckpointEvery
	}
	for _, r := range c.Routes {
		o.Routes = append(o.Routes, Route{Topic: r.Topic, Partitions: r.Partitions, NonReliable: !r.ReliableDispatch})
	}
	return o
}

// ClientOptions returns the options of danube.NewClient that the
// configuration sets: token and TLS. logger, if not nil, receives the
// client's logs of reconnects and recoveries.
func (c *Config) ClientOptions(logger *slog.Logger) []danube.Option {
	var opts []danube.Option
	if logger != nil {
		opts = append(opts, danube.WithLogger(logger))
	}
	if c.Token != "" {
		opts = append(opts, danube.WithToken(c.Token))
	}
	switch {
	case c.TLSCertFile != "":
		opts = append(opts, danube.WithMutualTLS(c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile))
	case c.TLS || c.TLSCAFile != "":
		opts = append(opts, danube.WithTLS(c.TLSCAFile))
	}
	if c.Insecure {
		opts = append(opts, danube.WithInsecure())
	}
	return opts
}
