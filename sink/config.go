package sink

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/internal/config"
)

// EnvConfigPath names the environment variable that LoadConfig reads the
// path of the YAML file from, the name the Rust connector framework uses.
const EnvConfigPath = "CONNECTOR_CONFIG_PATH"

// Config is the configuration of the sink runtime. Each field has an
// environment variable, named in its tag, and a YAML key in snake case.
// LoadConfig reads both, and the environment overrides the file. A program
// may instead start from DefaultConfig, set fields itself and give the
// result to New, which validates it.
//
// The consumed topics are either one topic given by DanubeTopic, with the
// subscription settings at the top level, or a list of Routes, each with
// its own settings; the top-level settings are then the defaults of every
// route.
type Config struct {
	// ServiceURL is the broker's gRPC address, such as
	// http://danube-broker:6650. Required.
	ServiceURL string `env:"DANUBE_SERVICE_URL" yaml:"danube_service_url" required:"true"`
	// ConnectorName names the connector in logs, metrics and dead
	// letters, and is the default subscription and consumer name.
	// Required.
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

	// DanubeTopic lists the topics to consume, separated by commas, all
	// with the top-level subscription settings. Set it or Routes.
	DanubeTopic []string `env:"DANUBE_TOPIC" yaml:"danube_topic"`
	// SubscriptionName names the subscription, ConnectorName by default.
	SubscriptionName string `env:"SUBSCRIPTION_NAME" yaml:"subscription_name"`
	// SubscriptionType is Exclusive (the default), Shared, Failover or
	// KeyShared.
	SubscriptionType SubscriptionType `env:"SUBSCRIPTION_TYPE" yaml:"subscription_type"`
	// ConsumerName names the consumer on the broker. The default is
	// ConnectorName for Exclusive and Failover, where a restarted
	// process must come back under the same name, and ConnectorName
	// followed by the host name for Shared and KeyShared, where every
	// replica needs a name of its own.
	ConsumerName string `env:"CONSUMER_NAME" yaml:"consumer_name"`
	// KeyFilters restricts a KeyShared consumer to routing keys matching
	// one of these globs ('*' and '?'), separated by commas.
	KeyFilters []string `env:"KEY_FILTERS" yaml:"key_filters"`
	// DeadLetterTopic receives the records that the connector rejected as
	// invalid data, with attributes naming their origin. Without it they
	// are nacked. It must be a reliable topic. A missing one is created as
	// reliable when the broker creates topics on demand.
	DeadLetterTopic string `env:"DEAD_LETTER_TOPIC" yaml:"dead_letter_topic"`
	// Routes lists the topics to consume, each with its own subscription
	// settings, in the YAML file only.
	Routes []Route `yaml:"routes"`

	// MaxRetries is how many times a record whose write failed with a
	// retryable error is written again before it is nacked, 0 to 100.
	MaxRetries int `env:"MAX_RETRIES" yaml:"max_retries" default:"3" min:"0" max:"100"`
	// RetryBackoff is the wait before the first retry, doubled for each
	// later one up to MaxBackoff.
	RetryBackoff time.Duration `env:"RETRY_BACKOFF_MS" yaml:"retry_backoff_ms" unit:"ms" default:"1000" min:"0"`
	// MaxBackoff caps the wait between retries.
	MaxBackoff time.Duration `env:"MAX_BACKOFF_MS" yaml:"max_backoff_ms" unit:"ms" default:"30000" min:"1"`

	// BatchSize is the most records one Write receives.
	BatchSize int `env:"BATCH_SIZE" yaml:"batch_size" default:"1000" min:"1"`
	// BatchMaxBytes bounds the payload bytes of one batch; 0 sets no
	// bound. A record larger than the bound is written alone.
	BatchMaxBytes int `env:"BATCH_MAX_BYTES" yaml:"batch_max_bytes" min:"0"`
	// BatchTimeout is the longest a record waits for its batch to fill. A
	// batch is also written as soon as no more records are ready to be
	// batched, so a quiet topic does not wait for the timeout.
	BatchTimeout time.Duration `env:"BATCH_TIMEOUT_MS" yaml:"batch_timeout_ms" unit:"ms" default:"1000" min:"1"`

	// DrainTimeout bounds the stop: records received are written and
	// acknowledged within it, and those still unwritten when it passes
	// are nacked.
	DrainTimeout time.Duration `env:"DRAIN_TIMEOUT_MS" yaml:"drain_timeout_ms" unit:"ms" default:"30000" min:"1"`
	// StallTimeout is how long the pipeline may hold records without
	// settling any before the liveness check fails.
	StallTimeout time.Duration `env:"STALL_TIMEOUT_MS" yaml:"stall_timeout_ms" unit:"ms" default:"300000" min:"1"`

	// MetricsPort is the port of the binary's /metrics, /healthz and
	// /readyz endpoints.
	MetricsPort int `env:"METRICS_PORT" yaml:"metrics_port" default:"9090" min:"1" max:"65535"`
	// MetricsHost is the address the /metrics, /healthz and /readyz
	// endpoints listen on, such as 127.0.0.1 to keep them off the network.
	// Empty means every interface, so that they can be scraped from
	// outside a container.
	MetricsHost string `env:"METRICS_HOST" yaml:"metrics_host"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" yaml:"log_level" default:"info" oneof:"debug|info|warn|error"`

	// Policy holds the subscription settings that the runtime stores on
	// the broker through its admin API at start, when AdminURL is set.
	Policy Policy `yaml:",inline"`
}

// Route is one consumed topic with its subscription settings. A field
// left empty takes the value of the same field of Config.
type Route struct {
	// Topic is the topic to consume, "/namespace/name"; for a partitioned
	// topic the base name. Required.
	Topic string `yaml:"topic" required:"true"`
	// SubscriptionName, SubscriptionType, ConsumerName, KeyFilters and
	// DeadLetterTopic override the top-level settings of the same names
	// for this route. Config documents their meaning and defaults.
	SubscriptionName string           `yaml:"subscription_name"`
	SubscriptionType SubscriptionType `yaml:"subscription_type"`
	ConsumerName     string           `yaml:"consumer_name"`
	KeyFilters       []string         `yaml:"key_filters"`
	DeadLetterTopic  string           `yaml:"dead_letter_topic"`
}

// Policy holds the subscription settings the runtime applies through the
// broker's admin API before it subscribes. Each field left at zero keeps
// the broker's setting. Setting any of them requires AdminURL.
type Policy struct {
	// AdminURL is the broker's admin gRPC address, such as
	// http://danube-broker:50051.
	AdminURL string `env:"DANUBE_ADMIN_URL" yaml:"danube_admin_url"`
	// MaxRedeliveries is how many times the broker redelivers a nacked
	// or unacknowledged message before its PoisonPolicy applies.
	MaxRedeliveries int `env:"MAX_REDELIVERIES" yaml:"max_redeliveries" min:"0"`
	// AckTimeout is how long the broker waits for an acknowledgement
	// before it redelivers.
	AckTimeout time.Duration `env:"ACK_TIMEOUT_MS" yaml:"ack_timeout_ms" unit:"ms" min:"0"`
	// PoisonPolicy is the broker's action on a message redelivered
	// MaxRedeliveries times: dead_letter (to the route's dead-letter
	// topic), drop or block.
	PoisonPolicy string `env:"POISON_POLICY" yaml:"poison_policy" oneof:"dead_letter|drop|block"`
	// DispatchWindow is how many unacknowledged messages the broker sends
	// ahead of acknowledgements, 1 to 10000; the broker's default is 10.
	DispatchWindow int `env:"DISPATCH_WINDOW" yaml:"dispatch_window" min:"0" max:"10000"`
}

// set reports whether any setting needs the admin API.
func (p Policy) set() bool {
	return p.MaxRedeliveries > 0 || p.AckTimeout > 0 || p.PoisonPolicy != "" || p.DispatchWindow > 0
}

// LoadConfig reads the configuration from the YAML file at path, if path
// is not empty, and from the environment, which overrides the file. An
// empty path means the file named by CONNECTOR_CONFIG_PATH, if set. It
// returns every problem at once in one error. Each problem names its key
// as the user wrote it, such as `BATCH_SIZE: must be a positive integer,
// got "abc"`, and none shows the token.
func LoadConfig(path string) (Config, error) {
	return loadConfig(path, os.LookupEnv)
}

func loadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	if path == "" {
		path, _ = lookup(EnvConfigPath)
		path = strings.TrimSpace(path)
	}
	var cfg Config
	err := config.Load(&cfg, config.Source{File: path, Lookup: lookup})
	return cfg, err
}

// Validate reports the problems that span several fields; config.Load
// calls it after it checked each field on its own.
func (c *Config) Validate(p *config.Problems) {
	if len(c.DanubeTopic) > 0 && len(c.Routes) > 0 {
		p.Add("danube_topic", "set either it or routes, not both")
	}
	if len(c.DanubeTopic) == 0 && len(c.Routes) == 0 && !p.Has("routes") {
		p.Add("danube_topic", "missing: set DANUBE_TOPIC, or danube_topic or routes in the configuration file")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		p.Add("danube_tls_cert_file", "mutual TLS needs both DANUBE_TLS_CERT_FILE and DANUBE_TLS_KEY_FILE")
	}
	if c.MaxBackoff < c.RetryBackoff && !p.Has("retry_backoff_ms") {
		p.Add("max_backoff_ms", "must not be less than RETRY_BACKOFF_MS (%d)", c.RetryBackoff.Milliseconds())
	}
	if c.Policy.set() && c.Policy.AdminURL == "" {
		p.Add("danube_admin_url", "missing: the subscription policy settings need the broker's admin URL")
	}

	checkTopic := func(path, topic string) {
		if err := danube.ValidateTopic(topic); err != nil {
			p.Add(path, "%v", err)
		}
	}
	for _, t := range c.DanubeTopic {
		checkTopic("danube_topic", t)
	}
	if c.DeadLetterTopic != "" {
		checkTopic("dead_letter_topic", c.DeadLetterTopic)
	}

	seen := make(map[[2]string]string)
	for i, r := range c.resolveRoutes() {
		path := fmt.Sprintf("routes[%d]", i)
		if len(c.Routes) == 0 {
			path = "danube_topic"
		}
		if len(c.Routes) > 0 {
			if r.Topic != "" {
				checkTopic(path+".topic", r.Topic)
			}
			if c.Routes[i].DeadLetterTopic != "" {
				checkTopic(path+".dead_letter_topic", r.DeadLetterTopic)
			}
		}
		key := [2]string{r.Topic, r.SubscriptionName}
		if first, dup := seen[key]; dup && r.Topic != "" {
			p.Add(path+".topic", "repeats the topic and subscription of %s", first)
		}
		seen[key] = path
		if strings.Contains(r.SubscriptionName, "/") {
			c.subscriptionNameProblem(p, i, path)
		}
		if len(r.KeyFilters) > 0 && r.SubscriptionType != KeyShared {
			p.Add(path+".key_filters", "key filters need the KeyShared subscription type, not %s", r.SubscriptionType)
		}
		if r.DeadLetterTopic != "" && r.DeadLetterTopic == r.Topic {
			p.Add(path+".dead_letter_topic", "must differ from the consumed topic %s", r.Topic)
		}
		if c.Policy.PoisonPolicy == "dead_letter" && r.DeadLetterTopic == "" {
			p.Add("poison_policy", "dead_letter needs a dead-letter topic on every route")
		}
	}
}

// subscriptionNameProblem reports the '/' in the subscription name of
// route i, on the key the name came from: the route's own
// subscription_name, the top-level one, or the connector name that both
// default to. The broker keeps each subscription under a metadata path
// with the name as one segment, and reads a name back as that segment
// alone, so a name with '/' would not survive a broker restart.
func (c *Config) subscriptionNameProblem(p *config.Problems, i int, path string) {
	const rule = "must not contain '/', which the broker's metadata paths use as a separator"
	switch {
	case len(c.Routes) > 0 && c.Routes[i].SubscriptionName != "":
		p.Add(path+".subscription_name", "%q %s", c.Routes[i].SubscriptionName, rule)
	case c.SubscriptionName != "":
		if !p.Has("subscription_name") {
			p.Add("subscription_name", "%q %s", c.SubscriptionName, rule)
		}
	default:
		if !p.Has("connector_name") {
			p.Add("connector_name", "%q is the default subscription name, which %s; set SUBSCRIPTION_NAME", c.ConnectorName, rule)
		}
	}
}

// resolveRoutes returns the routes with the top-level settings filled in
// where a route left them empty.
func (c *Config) resolveRoutes() []Route {
	var out []Route
	if len(c.Routes) == 0 {
		for _, t := range c.DanubeTopic {
			out = append(out, Route{Topic: t})
		}
	} else {
		out = append(out, c.Routes...)
	}
	for i := range out {
		r := &out[i]
		if r.SubscriptionName == "" {
			r.SubscriptionName = c.SubscriptionName
		}
		if r.SubscriptionName == "" {
			r.SubscriptionName = c.ConnectorName
		}
		if r.SubscriptionType == "" {
			r.SubscriptionType = c.SubscriptionType
		}
		if r.SubscriptionType == "" {
			r.SubscriptionType = Exclusive
		}
		if r.ConsumerName == "" {
			r.ConsumerName = c.ConsumerName
		}
		if r.ConsumerName == "" {
			r.ConsumerName = defaultConsumerName(c.ConnectorName, r.SubscriptionType)
		}
		if r.KeyFilters == nil {
			r.KeyFilters = c.KeyFilters
		}
		if r.DeadLetterTopic == "" {
			r.DeadLetterTopic = c.DeadLetterTopic
		}
	}
	return out
}

// defaultConsumerName returns the consumer name for a route that sets
// none: see Config.ConsumerName.
func defaultConsumerName(connector string, t SubscriptionType) string {
	if t == Exclusive || t == Failover {
		return connector
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return connector + "-" + randomSuffix()
	}
	return connector + "-" + host
}
