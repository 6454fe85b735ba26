package danube

import (
	"encoding/json"
	"strconv"
	"time"
)

// The deadline of every unary call comes from gRPC's default service
// config, not from a context.WithTimeout per call. gRPC derives one context
// per call anyway, and with a method timeout it derives that one with the
// deadline. So the deadline costs no extra context, timer or allocation on
// the hot path. A caller's earlier deadline still wins.
//
// Every unary method this package calls is listed; ReceiveMessages, the
// only streaming one, is not, because a stream lives as long as its
// consumer.
var unaryMethods = []struct{ service, method string }{
	{"danube.ProducerService", ""},
	{"danube.Discovery", ""},
	{"danube.HealthCheck", ""},
	{"danube.ConsumerService", "Subscribe"},
	{"danube.ConsumerService", "Ack"},
	{"danube.ConsumerService", "Nack"},
	{"danube_schema.SchemaRegistry", ""},
	{"danube_admin.NamespaceAdmin", ""},
	{"danube_admin.TopicAdmin", ""},
}

// serviceConfig returns the default service config that bounds every
// unary call by timeout.
func serviceConfig(timeout time.Duration) string {
	type name struct {
		Service string `json:"service"`
		Method  string `json:"method,omitempty"`
	}
	type methodConfig struct {
		Name    []name `json:"name"`
		Timeout string `json:"timeout"`
	}
	mc := methodConfig{Timeout: strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + "s"}
	for _, m := range unaryMethods {
		mc.Name = append(mc.Name, name{Service: m.service, Method: m.method})
	}
	out, err := json.Marshal(struct {
		MethodConfig []methodConfig `json:"methodConfig"`
	}{[]methodConfig{mc}})
	if err != nil {
		panic("danube: encode service config: " + err.Error()) // plain structs always encode
	}
	return string(out)
}
