package danube_test

import (
	"errors"
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube"
)

const (
	orderSchemaV1 = `{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}`
	orderSchemaV2 = `{"type":"object","properties":{"id":{"type":"integer"},"note":{"type":"string"}},"required":["id"]}`
)

func registerOrderSchemas(t *testing.T, reg *danube.SchemaRegistry, subject string) (v1, v2 danube.RegisteredSchema) {
	t.Helper()
	var err error
	v1, err = reg.RegisterSchema(testContext(t), danube.SchemaRegistration{Subject: subject, Type: danube.SchemaJSONSchema, Definition: []byte(orderSchemaV1)})
	if err != nil {
		t.Fatalf("RegisterSchema v1: %v", err)
	}
	v2, err = reg.RegisterSchema(testContext(t), danube.SchemaRegistration{Subject: subject, Type: danube.SchemaJSONSchema, Definition: []byte(orderSchemaV2)})
	if err != nil {
		t.Fatalf("RegisterSchema v2: %v", err)
	}
	return v1, v2
}

func TestConformanceSchemaRegistry(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	reg := c.Schemas()
	subject := topicStem(t)

	v1, v2 := registerOrderSchemas(t, reg, subject)
	if !v1.IsNewVersion || !v2.IsNewVersion || v1.ID != v2.ID || v2.Version != v1.Version+1 {
		t.Fatalf("registered %+v then %+v, want two new versions of one subject id", v1, v2)
	}
	again, err := reg.RegisterSchema(testContext(t), danube.SchemaRegistration{Subject: subject, Type: danube.SchemaJSONSchema, Definition: []byte(orderSchemaV1)})
	if err != nil || again.IsNewVersion || again.Version != v1.Version {
		t.Fatalf("registering v1 again = %+v, %v; want the existing version", again, err)
	}

	latest, err := reg.GetLatestSchema(testContext(t), subject)
	if err != nil {
		t.Fatalf("GetLatestSchema: %v", err)
	}
	if latest.ID != v2.ID || latest.Version != v2.Version || latest.Type != danube.SchemaJSONSchema || latest.Subject != subject {
		t.Fatalf("latest = %+v, want v2 of %s", latest, subject)
	}
	if string(latest.Definition) != orderSchemaV2 {
		t.Fatalf("latest definition %q, want the registered text (decoded from the broker's wrapper %q)", latest.Definition, latest.RawDefinition)
	}

	first, err := reg.GetSchema(testContext(t), v1.ID, v1.Version)
	if err != nil {
		t.Fatalf("GetSchema(v1): %v", err)
	}
	if string(first.Definition) != orderSchemaV1 || first.Version != v1.Version {
		t.Fatalf("GetSchema(v1) = version %d %q", first.Version, first.Definition)
	}

	ok, err := reg.CheckCompatibility(testContext(t), subject, danube.SchemaJSONSchema, []byte(orderSchemaV2), "")
	if err != nil || !ok.Compatible {
		t.Fatalf("CheckCompatibility(compatible) = %+v, %v", ok, err)
	}

	if _, err := reg.GetLatestSchema(testContext(t), subject+"_missing"); !errors.Is(err, danube.ErrNotFound) {
		t.Fatalf("GetLatestSchema(missing) = %v, want ErrNotFound", err)
	}
}

func TestConformanceSchemaCachedByIDAndVersion(t *testing.T) {
	e := newEnv(t)
	b := e.needBroker(t, "stopping the broker to show the cache answers")
	c := e.client(t)
	reg := c.Schemas()
	v1, v2 := registerOrderSchemas(t, reg, topicStem(t))
	for _, v := range []danube.RegisteredSchema{v1, v2} {
		if _, err := reg.GetSchema(testContext(t), v.ID, v.Version); err != nil {
			t.Fatal(err)
		}
	}

	b.Stop()
	for _, v := range []danube.RegisteredSchema{v1, v2} {
		s, err := reg.GetSchema(testContext(t), v.ID, v.Version)
		if err != nil {
			t.Fatalf("GetSchema(%d, %d) with the broker down: %v, want the cached schema", v.ID, v.Version, err)
		}
		if s.Version != v.Version {
			t.Fatalf("cache returned version %d for %d", s.Version, v.Version)
		}
	}
}

func TestConformanceProducerDeclaresSchema(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	reg := c.Schemas()
	subject := topicStem(t)
	v1, v2 := registerOrderSchemas(t, reg, subject)
	name := topic(t)
	createTopic(t, c, name, true, 0)
	cons := newConsumer(t, c, danube.ConsumerOptions{Topic: name, Subscription: "sub"})

	latest := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true, Schema: &danube.SchemaReference{Subject: subject}})
	pinned := newProducer(t, c, danube.ProducerOptions{Topic: name, Reliable: true, Schema: &danube.SchemaReference{Subject: subject, PinnedVersion: v1.Version}})
	send(t, latest, `{"id":1}`)
	send(t, pinned, `{"id":2}`)

	for _, want := range []danube.RegisteredSchema{v2, v1} {
		m := receive(t, cons)
		if !m.HasSchema || m.SchemaID != want.ID || m.SchemaVersion != want.Version {
			t.Fatalf("message %s: schema %v %d v%d, want %d v%d", m.Payload, m.HasSchema, m.SchemaID, m.SchemaVersion, want.ID, want.Version)
		}
		s, err := reg.GetSchema(testContext(t), m.SchemaID, m.SchemaVersion)
		if err != nil {
			t.Fatalf("GetSchema for a received message: %v", err)
		}
		if s.Version != want.Version {
			t.Fatalf("schema lookup returned version %d, want %d", s.Version, want.Version)
		}
		ack(t, cons, m)
	}

	_, err := c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: true, Schema: &danube.SchemaReference{Subject: subject, PinnedVersion: v2.Version + 1}})
	if !errors.Is(err, danube.ErrFailedPrecondition) {
		t.Fatalf("pinning a version past the latest: %v, want ErrFailedPrecondition", err)
	}
	_, err = c.NewProducer(testContext(t), danube.ProducerOptions{Topic: name, Reliable: true, Schema: &danube.SchemaReference{Subject: subject, MinVersion: v2.Version + 1}})
	if !errors.Is(err, danube.ErrFailedPrecondition) {
		t.Fatalf("a minimum version past the latest: %v, want ErrFailedPrecondition", err)
	}
}
