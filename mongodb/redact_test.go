package mongodb

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
	"github.com/danube-messaging/danube-connect-go/sink"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

func TestRedactURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mongodb://app:s3cret@db1:27017,db2:27017/admin?replicaSet=rs0", "mongodb://xxxxx@db1:27017,db2:27017/admin"},
		// The driver rejects an unescaped '@' in a password, so the end of
		// the password is unknown and everything after the scheme is hidden.
		{"mongodb+srv://app:p@ss@cluster.example.net/?authSource=admin", "mongodb+srv://<redacted: the connection string does not parse>"},
		// An unescaped '?' in a password is accepted by the driver, which
		// ends the user information at the first '@'.
		{"mongodb://app:pa?ss@db:27017/admin?w=1", "mongodb://xxxxx@db:27017/admin"},
		{"mongodb://db:27017/?tlsCertificateKeyFilePassword=k3y", "mongodb://db:27017/"},
		{"mongodb://db", "mongodb://db"},
		{"app:s3cret@db", "<connection string without scheme>"},
	}
	for _, tt := range tests {
		if got := RedactURI(tt.in); got != tt.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubRemovesEverySecret(t *testing.T) {
	uri := "mongodb://app:s3cr%40t@db:27017/?authMechanismProperties=AWS_SESSION_TOKEN:t0ken&tlsCertificateKeyFilePassword=k3y"
	s := newScrubber(uri)
	for _, msg := range []string{
		"failed with s3cr@t",
		"failed with s3cr%40t",
		"options AWS_SESSION_TOKEN:t0ken",
		"password k3y",
		"uri " + uri,
	} {
		got := s.scrub(errors.New(msg)).Error()
		for _, secret := range []string{"s3cr", "t0ken", "k3y"} {
			if strings.Contains(got, secret) {
				t.Errorf("scrub(%q) = %q, still shows %s", msg, got, secret)
			}
		}
	}
	plain := errors.New("nothing secret")
	if s.scrub(plain) != plain {
		t.Error("scrub changed an error without secrets")
	}
}

// TestCredentialsNeverShown makes every path that can mention the connection
// string fail, and looks for the password in the errors and the log.
func TestCredentialsNeverShown(t *testing.T) {
	const password = "pa55-w0rd"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []error
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		errs = append(errs, err)
	}

	// Configuration problems.
	check("bad scheme", Config{ConnectionString: "http://app:" + password + "@db", Database: "d", Collection: "c"}.Validate())
	check("w=0", Config{ConnectionString: "mongodb://app:" + password + "@db/?w=0", Database: "d", Collection: "c"}.Validate())
	check("bad option", Config{ConnectionString: "mongodb://app:" + password + "@db/?%zz", Database: "d", Collection: "c"}.Validate())
	check("option the driver rejects", Config{ConnectionString: "mongodb://app:" + password + "@db/?connectTimeoutMS=abc", Database: "d", Collection: "c"}.Validate())

	// Client options that the driver rejects at Open.
	s, err := New(Config{ConnectionString: "mongodb://app:" + password + "@db/", Database: "d", Collection: "c"}, WithLogger(logger),
		WithClientOptions(func(o *options.ClientOptions) { o.SetHeartbeatInterval(time.Millisecond) }))
	if err != nil {
		t.Fatal(err)
	}
	check("invalid client options at Open", s.Open(testContext(t)))

	// A server that is not there.
	unreachable := "mongodb://app:" + password + "@127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"
	s, err = New(Config{ConnectionString: unreachable, Database: "d", Collection: "c", Timeout: 2 * time.Second}, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	check("unreachable server at Open", s.Open(testContext(t)))
	check("Health before Open", s.Health(testContext(t)))

	// The test server with credentials it does not know. FerretDB 1.24
	// and MongoDB with authentication enabled both fail Open, which must
	// then be fatal. A server without authentication accepts them.
	uri := withCredentials(mongotest.URI(t), "nobody", password)
	s, err = New(Config{ConnectionString: uri, Database: "d", Collection: "c", Timeout: 5 * time.Second}, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(testContext(t)); err != nil {
		errs = append(errs, err)
		wantClass(t, "Open with unknown credentials", err, sink.ErrFatal)
	} else {
		writeErr := s.Write(testContext(t), []*sink.Record{newRecord(0, `{"v":1}`)})
		if writeErr != nil {
			errs = append(errs, writeErr)
		}
		if err := s.Close(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}

	for _, err := range errs {
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("log shows the password:\n%s", logs.String())
	}
}

// withCredentials adds user information to a mongodb:// connection string.
func withCredentials(uri, user, password string) string {
	scheme, rest, _ := strings.Cut(uri, "://")
	return scheme + "://" + user + ":" + password + "@" + rest
}

func TestUnacknowledgedWriteConcernRejectedAtOpen(t *testing.T) {
	s, err := New(Config{ConnectionString: mongotest.URI(t), Database: "d", Collection: "c"},
		WithClientOptions(func(o *options.ClientOptions) { o.SetWriteConcern(writeconcern.Unacknowledged()) }))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open(testContext(t))
	wantClass(t, "Open with w:0", err, sink.ErrFatal)
	if err != nil && !strings.Contains(err.Error(), "w:0") {
		t.Errorf("Open = %v, want an error naming w:0", err)
	}
	if !errors.Is(s.Write(testContext(t), []*sink.Record{newRecord(0, `{}`)}), ErrNotOpen) {
		t.Error("Write after a failed Open is not ErrNotOpen")
	}
}

func TestHealthPingsServer(t *testing.T) {
	s, err := New(Config{ConnectionString: mongotest.URI(t), Database: mongotest.DatabaseName(t), Collection: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Health(testContext(t)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Health before Open = %v, want ErrNotOpen", err)
	}
	if err := s.Open(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(testContext(t)); err != nil {
		t.Errorf("Health = %v", err)
	}
	if err := s.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(testContext(t)); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Health(testContext(t)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Health after Close = %v, want ErrNotOpen", err)
	}
}

// TestScrubHidesOverlappingSecrets: a secret that starts with another one
// (here the password begins with the user name) or overlaps it must be
// hidden whole, whatever order the secrets were collected in.
func TestScrubHidesOverlappingSecrets(t *testing.T) {
	uri := "mongodb://abc@db:27017/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:abcSECRETTAIL"
	s := newScrubber(uri)
	for _, msg := range []string{
		`the abcSECRETTAIL "ENVIRONMENT" is not supported`,
		"user abc, value abcSECRETTAIL, again abc",
		"joined abcSECRETTAILabc",
	} {
		got := s.scrub(errors.New(msg)).Error()
		if strings.Contains(got, "SECRET") || strings.Contains(got, "TAIL") || strings.Contains(got, "abc") {
			t.Errorf("scrub(%q) = %q, still shows part of a secret", msg, got)
		}
	}
	if got := s.scrub(errors.New("user abc failed")).Error(); got != "user xxxxx failed" {
		t.Errorf("scrub = %q, want %q", got, "user xxxxx failed")
	}
}

// TestScrubHidesDecodedAndQuotedForms: the driver decodes option values
// with the query decoder, which turns '+' into a space, and quotes values
// with %q in its errors. A password pasted as an option value comes back
// in those forms, and each must be hidden.
func TestScrubHidesDecodedAndQuotedForms(t *testing.T) {
	s := newScrubber("mongodb://app:Pa+ss%22Word9@db:27017/")
	for _, msg := range []string{
		"as written Pa+ss%22Word9",
		"path-decoded Pa+ss\"Word9",
		"query-decoded Pa ss\"Word9",
		`quoted "Pa ss\"Word9"`,
		`quoted "Pa+ss\"Word9"`,
	} {
		if got := s.scrub(errors.New(msg)).Error(); strings.Contains(got, "Word9") {
			t.Errorf("scrub(%q) = %q, still shows the password", msg, got)
		}
	}
}
