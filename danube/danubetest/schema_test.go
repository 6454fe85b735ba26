package danubetest_test

import (
	"encoding/json"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/danubepb"
	"github.com/danube-messaging/danube-connect-go/danube/internal/pb/schemapb"
)

const (
	userV1 = `{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`
	userV2 = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name"]}`
	userV3 = `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}`
)

func register(t *testing.T, c *client, subject, typ, def string) *schemapb.RegisterSchemaResponse {
	t.Helper()
	resp, err := c.schema.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: subject, SchemaType: typ, SchemaDefinition: []byte(def)})
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return resp
}

func TestRegisterSchemaVersionsShareSubjectID(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	v1 := register(t, c, "users", "json_schema", userV1)
	v2 := register(t, c, "users", "JSON", userV2)
	v3 := register(t, c, "users", "json_schema", userV3)
	if !v1.GetIsNewVersion() || v1.GetVersion() != 1 || v2.GetVersion() != 2 || v3.GetVersion() != 3 {
		t.Fatalf("versions %d %d %d, want 1 2 3", v1.GetVersion(), v2.GetVersion(), v3.GetVersion())
	}
	if v1.GetSchemaId() != v2.GetSchemaId() || v2.GetSchemaId() != v3.GetSchemaId() {
		t.Fatalf("schema ids %d %d %d, want one id for the subject", v1.GetSchemaId(), v2.GetSchemaId(), v3.GetSchemaId())
	}

	// The same schema, formatted differently, has the same fingerprint.
	again := register(t, c, "users", "json_schema", "{\"required\": [\"name\"], \"type\": \"object\",\n \"properties\": {\"name\": {\"type\": \"string\"}}}")
	if again.GetIsNewVersion() || again.GetVersion() != 1 || again.GetFingerprint() != v1.GetFingerprint() {
		t.Fatalf("re-register = %v, want version 1 again with is_new_version false", again)
	}

	other := register(t, c, "orders", "string", "")
	if other.GetSchemaId() == v1.GetSchemaId() {
		t.Fatalf("two subjects share schema id %d", other.GetSchemaId())
	}
}

func TestGetSchemaReturnsBrokerJSONWrapper(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	reg := register(t, c, "users", "json_schema", userV1)
	register(t, c, "users", "json_schema", userV2)

	first, err := c.schema.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: reg.GetSchemaId(), Version: proto32(1)})
	if err != nil {
		t.Fatalf("get schema: %v", err)
	}
	var wrapper map[string]map[string]string
	if err := json.Unmarshal(first.GetSchemaDefinition(), &wrapper); err != nil {
		t.Fatalf("schema_definition %s is not the JSON wrapper: %v", first.GetSchemaDefinition(), err)
	}
	if wrapper["JsonSchema"]["raw_schema"] != userV1 || wrapper["JsonSchema"]["fingerprint"] != reg.GetFingerprint() {
		t.Fatalf("wrapper = %v", wrapper)
	}
	if first.GetSchemaType() != "json_schema" || first.GetSubject() != "users" || first.GetCompatibilityMode() != "backward" || first.GetVersion() != 1 {
		t.Fatalf("get schema = %v", first)
	}

	latest, err := c.schema.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: reg.GetSchemaId()})
	if err != nil || latest.GetVersion() != 2 {
		t.Fatalf("get schema without version = %v, %v; want version 2", latest, err)
	}
	byName, err := c.schema.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "users"})
	if err != nil || byName.GetVersion() != 2 || byName.GetSchemaId() != reg.GetSchemaId() {
		t.Fatalf("get latest = %v, %v", byName, err)
	}
	list, err := c.schema.ListVersions(ctxT(t), &schemapb.ListVersionsRequest{Subject: "users"})
	if err != nil || len(list.GetVersions()) != 2 || list.GetVersions()[1].GetVersion() != 2 {
		t.Fatalf("list versions = %v, %v", list, err)
	}

	register(t, c, "plain", "string", "")
	plain, _ := c.schema.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "plain"})
	if string(plain.GetSchemaDefinition()) != `"String"` {
		t.Fatalf("string schema definition = %s, want \"String\"", plain.GetSchemaDefinition())
	}

	_, err = c.schema.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: 999})
	wantCode(t, err, codes.NotFound)
	_, err = c.schema.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "nope"})
	wantCode(t, err, codes.NotFound)
}

func proto32(v uint32) *uint32 { return &v }

func TestCheckCompatibilityOfJSONSchemas(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	register(t, c, "users", "json_schema", userV1)

	cases := []struct {
		name string
		def  string
		mode *string
		ok   bool
	}{
		{"adding optional field", userV2, nil, true},
		{"removing required field", `{"type":"object","properties":{"email":{"type":"string"}}}`, nil, false},
		{"changing field type", `{"type":"object","properties":{"name":{"type":"integer"}},"required":["name"]}`, nil, false},
		{"adding required field forward", `{"type":"object","properties":{"name":{"type":"string"},"id":{"type":"string"}},"required":["name","id"]}`, str("forward"), false},
		{"anything under none", `{"type":"object"}`, str("NONE"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.schema.CheckCompatibility(ctxT(t), &schemapb.CheckCompatibilityRequest{
				Subject: "users", NewSchemaDefinition: []byte(tc.def), SchemaType: "json_schema", CompatibilityMode: tc.mode,
			})
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if resp.GetIsCompatible() != tc.ok || (tc.ok == (len(resp.GetErrors()) > 0)) {
				t.Fatalf("check = %v, want compatible %v", resp, tc.ok)
			}
		})
	}

	_, err := c.schema.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: "users", SchemaType: "json_schema", SchemaDefinition: []byte(cases[1].def)})
	wantCode(t, err, codes.Internal)

	_, err = admin.schema.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "users", CompatibilityMode: "sideways"})
	wantCode(t, err, codes.InvalidArgument)
	if _, err := admin.schema.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "users", CompatibilityMode: "None"}); err != nil {
		t.Fatalf("set mode on the admin port: %v", err)
	}
	if got := register(t, c, "users", "json_schema", cases[1].def); got.GetVersion() != 2 {
		t.Fatalf("register under none = version %d, want 2", got.GetVersion())
	}
	_, err = c.schema.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: "users", SchemaType: "xml"})
	wantCode(t, err, codes.Internal)
}

func TestProducerSchemaSubjectRules(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	register(t, c, "users", "json_schema", userV1)
	register(t, c, "orders", "string", "")
	create := func(name, subject string) error {
		_, err := c.producer.CreateProducer(ctxT(t), &danubepb.ProducerRequest{
			ProducerName: name, TopicName: "/default/t", DispatchStrategy: danubepb.DispatchStrategy_Reliable,
			SchemaRef: &danubepb.SchemaReference{Subject: subject, VersionRef: &danubepb.SchemaReference_UseLatest{UseLatest: true}},
		})
		return err
	}
	wantCode(t, create("p0", "unknown"), codes.FailedPrecondition)
	wantCode(t, create("p1", "users"), codes.OK)
	wantCode(t, create("p2", "orders"), codes.FailedPrecondition)
	cfg, err := c.schema.GetTopicSchemaConfig(ctxT(t), &schemapb.GetTopicSchemaConfigRequest{TopicName: "/default/t"})
	if err != nil || cfg.GetSchemaSubject() != "users" || cfg.GetValidationPolicy() != "warn" || cfg.GetSchemaId() == 0 {
		t.Fatalf("topic schema config = %v, %v; want subject users under warn", cfg, err)
	}
}

func TestValidationPolicyEnforceRejectsMessages(t *testing.T) {
	b := danubetest.Start(t)
	c, admin := clients(t, b)
	users := register(t, c, "users", "json_schema", userV1)
	orders := register(t, c, "orders", "string", "")
	pid := c.createProducer(t, "/default/t", "p", true)

	send := func(schemaID *uint64, payload string) error {
		m := message(pid, "/default/t", payload)
		m.SchemaId = schemaID
		_, err := c.producer.SendMessage(ctxT(t), m)
		return err
	}
	// No subject and policy warn: everything passes except unknown ids.
	wantCode(t, send(nil, "x"), codes.OK)
	wantCode(t, send(u64(999), "x"), codes.PermissionDenied)

	if _, err := admin.schema.ConfigureTopicSchema(ctxT(t), &schemapb.ConfigureTopicSchemaRequest{
		TopicName: "/default/t", SchemaSubject: "users", ValidationPolicy: "ENFORCE", EnablePayloadValidation: true,
	}); err != nil {
		t.Fatalf("configure topic schema: %v", err)
	}
	id := users.GetSchemaId()
	wantCode(t, send(&id, `{"name":"ann"}`), codes.OK)
	wantCode(t, send(nil, `{"name":"ann"}`), codes.PermissionDenied)
	other := orders.GetSchemaId()
	wantCode(t, send(&other, `{"name":"ann"}`), codes.PermissionDenied)
	wantCode(t, send(&id, `{"age":3}`), codes.PermissionDenied)
	wantCode(t, send(&id, `not json`), codes.PermissionDenied)

	if _, err := c.schema.UpdateTopicValidationPolicy(ctxT(t), &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/t", ValidationPolicy: "warn"}); err != nil {
		t.Fatalf("update policy: %v", err)
	}
	wantCode(t, send(nil, "anything"), codes.OK)
	_, err := c.schema.UpdateTopicValidationPolicy(ctxT(t), &schemapb.UpdateTopicValidationPolicyRequest{TopicName: "/default/t", ValidationPolicy: "strict"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestListSubjectsAndDeleteVersion(t *testing.T) {
	b := danubetest.Start(t)
	c, _ := clients(t, b)
	register(t, c, "users", "json_schema", userV1)
	register(t, c, "users", "json_schema", userV2)
	if _, err := c.schema.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "users", Version: 2}); err != nil {
		t.Fatalf("delete version: %v", err)
	}
	_, err := c.schema.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "users", Version: 7})
	wantCode(t, err, codes.Internal)
	list, err := c.schema.ListSubjects(ctxT(t), &schemapb.ListSubjectsRequest{})
	if err != nil || len(list.GetSubjects()) != 1 || list.GetSubjects()[0].GetLatestVersion() != 1 || list.GetSubjects()[0].GetSchemaType() != "json_schema" {
		t.Fatalf("list subjects = %v, %v", list, err)
	}
}
