package mongodb

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Secrets of the connection strings below, which no problem may show.
const (
	testPassword  = "S3cretPw"
	testKeySecret = "K3yS3cret"
	testAWSToken  = "T0kenS3cret"
)

func TestValidateReportsDriverRejections(t *testing.T) {
	const base = "mongodb://alice:" + testPassword + "@127.0.0.1:27017/?"
	const srvBase = "mongodb+srv://alice:" + testPassword + "@cluster0.example.invalid/?"
	tests := []struct {
		name, uri string
		// want are the parts of the problem: the option and what is wrong.
		want []string
	}{
		{"connect timeout not a number", base + "connectTimeoutMS=abc",
			[]string{`invalid value for "connectTimeoutMS"`}},
		{"unknown auth mechanism", base + "authMechanism=FOO",
			[]string{"option authMechanism=FOO", "invalid auth mechanism"}},
		{"negative w", base + "w=-1",
			[]string{"option w=-1", `invalid value for "w"`}},
		{"tls neither true nor false", base + "appName=sink;tls=maybe",
			[]string{"option tls=maybe", `invalid value for "tls"`}},
		{"unknown read preference", base + "readPreference=nearest-ish",
			[]string{"option readPreference=nearest-ish", "unknown read preference"}},
		{"pool sizes that conflict", base + "minPoolSize=10&maxPoolSize=5",
			[]string{"rejected by the MongoDB driver", "minPoolSize must be less than or equal to maxPoolSize"}},
		{"one bad option among a pair that needs each other", base + "tlsCertificateFile=/c.pem&tlsPrivateKeyFile=/k.pem&connectTimeoutMS=abc",
			[]string{`invalid value for "connectTimeoutMS"`}},
		{"secret option malformed", base + "authMechanism=MONGODB-AWS&authMechanismProperties=" + testAWSToken,
			[]string{"option authMechanismProperties:", "invalid authMechanism property"}},
		{"bad option after a secret one", base + "tlsCertificateKeyFilePassword=" + testKeySecret + "&tlsInsecure=maybe",
			[]string{"option tlsInsecure=maybe", `invalid value for "tlsInsecure"`}},
		// The driver's message quotes the value, which here is the
		// password, pasted in the wrong place.
		{"password as an option value", base + "connectTimeoutMS=" + testPassword,
			[]string{"option connectTimeoutMS=xxxxx", `invalid value for "connectTimeoutMS": "xxxxx"`}},
		{"missing TLS file", base + "tls=true&tlsCAFile=/nonexistent/ca.pem",
			[]string{"option tlsCAFile=/nonexistent/ca.pem", "no such file"}},
		{"empty user name", "mongodb://:" + testPassword + "@127.0.0.1/",
			[]string{"rejected by the MongoDB driver", "username required"}},
		{"srv with bad option", srvBase + "connectTimeoutMS=abc",
			[]string{`invalid value for "connectTimeoutMS"`}},
		{"srv max hosts not a number", srvBase + "srvMaxHosts=many",
			[]string{"option srvMaxHosts=many", "integer"}},
		{"srv max hosts with replica set", srvBase + "srvMaxHosts=2&replicaSet=rs0",
			[]string{"srvMaxHosts and replicaSet"}},
		{"srv service name too long", srvBase + "srvServiceName=" + strings.Repeat("s", 63),
			[]string{"option srvServiceName=", "1 to 62 characters"}},
		{"srv direct connection", srvBase + "directConnection=true",
			[]string{"directConnection=true", "mongodb+srv does not allow"}},
		{"srv host with port", "mongodb+srv://alice:" + testPassword + "@cluster0.example.invalid:27017/",
			[]string{"has a port"}},
		{"srv with two hosts", "mongodb+srv://alice:" + testPassword + "@a.example.invalid,b.example.invalid/",
			[]string{"more than one host"}},
		{"srv option without srv", "mongodb://127.0.0.1/?srvMaxHosts=2",
			[]string{"option srvMaxHosts=2", "non-SRV"}},
	}
	trapLookups(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.ConnectionString = tt.uri
			err := cfg.Validate()

			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want a *ConfigError", err)
			}
			if ce.Key != "connection_string" {
				t.Errorf("problem with %s, want connection_string: %v", ce.Key, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(ce.Problem, want) {
					t.Errorf("problem %q does not contain %q", ce.Problem, want)
				}
			}
			for _, secret := range []string{testPassword, testKeySecret, testAWSToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("Validate = %v, shows the secret %s", err, secret)
				}
			}
			if _, err := New(cfg); err == nil {
				t.Error("New accepted the connection string")
			}
		})
	}
}

func TestValidateAcceptsGoodStringsWithoutLookups(t *testing.T) {
	good := []string{
		"mongodb://alice:" + testPassword + "@127.0.0.1:27017/?connectTimeoutMS=5000&w=majority&readPreference=secondaryPreferred&tls=false",
		"mongodb://db1.example.invalid:27017,db2.example.invalid:27017/app?replicaSet=rs0;authSource=admin",
		// A name other than majority or a number is a custom write
		// concern that the server's replica set configuration defines.
		"mongodb://127.0.0.1/?w=dataCenters",
		"mongodb://AKIDEXAMPLE:" + testPassword + "@127.0.0.1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:" + testAWSToken,
		"mongodb+srv://alice:" + testPassword + "@cluster0.example.invalid/?retryWrites=true&w=majority",
		"mongodb+srv://cluster0.example.invalid/?srvMaxHosts=2&srvServiceName=mongo&ssl=false",
		"mongodb+srv://cluster0.example.invalid",
	}
	lookups := trapLookups(t)
	for _, uri := range good {
		cfg := validConfig()
		cfg.ConnectionString = uri
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", RedactURI(uri), err)
		}
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("Validate made %d DNS requests, want none", n)
	}
}

func TestLookupTrapCatchesSRVLookup(t *testing.T) {
	lookups := trapLookups(t)
	// The driver resolves a mongodb+srv host as it parses the string. The
	// trap fails the request before anything is sent.
	_ = options.Client().ApplyURI("mongodb+srv://cluster0.example.invalid/").Validate()
	if lookups.Load() == 0 {
		t.Error("the driver's SRV lookup did not reach the trap, so the tests that count lookups prove nothing")
	}
}

// trapLookups makes every DNS request of the net package fail, for the
// rest of the test, before anything is sent, and returns the number of
// requests made. The test must not run in parallel with others.
func trapLookups(t *testing.T) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	saved := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			n.Add(1)
			return nil, errors.New("DNS requests are not allowed in this test")
		},
	}
	t.Cleanup(func() { net.DefaultResolver = saved })
	return &n
}
