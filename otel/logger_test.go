package otel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/otel"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"DEBUG", slog.LevelDebug},
		{" Warn ", slog.LevelWarn},
	}
	for _, tt := range tests {
		got, err := otel.ParseLevel(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestNewLoggerRejectsUnknownLevel(t *testing.T) {
	for _, level := range []string{"verbose", "warning", "3"} {
		_, err := otel.NewLogger(level, &bytes.Buffer{})
		if err == nil {
			t.Errorf("NewLogger(%q) = nil error, want one", level)
			continue
		}
		if !strings.Contains(err.Error(), `"`+level+`"`) {
			t.Errorf("NewLogger(%q) error %q does not name the value", level, err)
		}
	}
}

func TestNewLoggerWritesJSONAtLevel(t *testing.T) {
	var buf bytes.Buffer
	log, err := otel.NewLogger("warn", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("connector started")
	log.Warn("write retried", "attempt", 2)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want 1 (info is below warn): %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("line %q is not JSON: %v", lines[0], err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "write retried" || rec["attempt"] != float64(2) {
		t.Errorf("record = %v", rec)
	}
}

func TestNewLoggerRedactsSecrets(t *testing.T) {
	tests := []struct {
		name    string
		attr    slog.Attr
		secret  string
		visible string
	}{
		{"password key", slog.String("password", "hunter2"), "hunter2", ""},
		{"token key in any case", slog.String("AuthToken", "eyJhbGciOi"), "eyJhbGciOi", ""},
		{"key naming a secret in a group", slog.Group("mongo", slog.String("client_secret", "s3cr3t")), "s3cr3t", "mongo"},
		{"mongodb uri", slog.String("uri", "mongodb://app:hunter2@db1:27017,db2:27017/orders?replicaSet=rs0"), "hunter2", "mongodb://app:REDACTED@db1:27017,db2:27017/orders?replicaSet=rs0"},
		{"password with @ and /", slog.String("uri", "mongodb://app:p@ss/w0rd@db1/orders"), "p@ss/w0rd", "mongodb://app:REDACTED@db1/orders"},
		{"uri without password kept", slog.String("uri", "mongodb://app@db1/orders"), "", "mongodb://app@db1/orders"},
		{"plain value kept", slog.String("topic", "/default/orders"), "", "/default/orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := otel.NewLogger("info", &buf)
			if err != nil {
				t.Fatal(err)
			}
			log.LogAttrs(t.Context(), slog.LevelInfo, "config", tt.attr)
			out := buf.String()
			if tt.secret != "" && strings.Contains(out, tt.secret) {
				t.Errorf("line %s contains the secret %q", out, tt.secret)
			}
			if tt.visible != "" && !strings.Contains(out, tt.visible) {
				t.Errorf("line %s lacks %q", out, tt.visible)
			}
		})
	}
}

func TestNewLoggerKeepsErrorsReadable(t *testing.T) {
	var buf bytes.Buffer
	log, err := otel.NewLogger("info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Error("write failed", "error", errors.New("connection reset"))
	if !strings.Contains(buf.String(), `"error":"connection reset"`) {
		t.Errorf("line %s lacks the error text", buf.String())
	}
}

// durationGroup is a slog.LogValuer that resolves to a group holding a
// duration, as a logged configuration does.
type durationGroup struct{}

func (durationGroup) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("ack_timeout", time.Minute))
}

func TestNewLoggerWritesDurationsAsText(t *testing.T) {
	var buf bytes.Buffer
	log, err := otel.NewLogger("info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("restarting",
		"delay", 102474171*time.Nanosecond,
		slog.Group("retry", slog.Duration("backoff", 1500*time.Millisecond)),
		"config", durationGroup{},
		"attempt", 2)

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("line %q is not JSON: %v", buf.String(), err)
	}
	if got := rec["delay"]; got != "102.474171ms" {
		t.Errorf("delay = %#v, want \"102.474171ms\"", got)
	}
	if got := rec["retry"].(map[string]any)["backoff"]; got != "1.5s" {
		t.Errorf("retry.backoff = %#v, want \"1.5s\"", got)
	}
	if got := rec["config"].(map[string]any)["ack_timeout"]; got != "1m0s" {
		t.Errorf("config.ack_timeout = %#v, want \"1m0s\"", got)
	}
	if got := rec["attempt"]; got != float64(2) {
		t.Errorf("attempt = %#v, want the number 2", got)
	}
}

func TestNewLoggerRedactsSecretDuration(t *testing.T) {
	var buf bytes.Buffer
	log, err := otel.NewLogger("info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("token refreshed", "token_lifetime", time.Hour)

	if !strings.Contains(buf.String(), `"token_lifetime":"`+otel.Redacted+`"`) {
		t.Errorf("logged %q, want token_lifetime redacted", buf.String())
	}
}

// credentials is a LogValuer whose value is a group holding a secret.
type credentials struct{ user, pass string }

func (c credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.user), slog.String("value", c.pass))
}

// TestNewLoggerRedactsGroupsAndOddURLs: a password with an unescaped '?'
// or '#' (which the MongoDB driver accepts), a second URL in one value,
// and secrets inside a group, a LogValuer or a WithGroup whose name
// names a secret never reach the line.
func TestNewLoggerRedactsGroupsAndOddURLs(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		keep string // a part of the line that must survive
	}{
		{"uri with ? in password", func(l *slog.Logger) {
			l.Info("connecting", "uri", "mongodb://app:hunter2?x@127.0.0.1:27017/orders")
		}, "127.0.0.1:27017/orders"},
		{"uri with # in password", func(l *slog.Logger) {
			l.Info("connecting", "uri", "mongodb://app:hunter2#x@127.0.0.1:27017/orders")
		}, "mongodb://app:"},
		{"second url in a value", func(l *slog.Logger) {
			l.Info("config", "targets", "http://127.0.0.1:9090/?a=b mongodb://app:hunter2@127.0.0.1:27017/")
		}, "http://127.0.0.1:9090/?a=b"},
		{"group named credentials", func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelInfo, "config", slog.Group("credentials", slog.String("mongo", "hunter2")))
		}, "credentials"},
		{"LogValuer under key password", func(l *slog.Logger) {
			l.Info("config", "password", credentials{"app", "hunter2"})
		}, "password"},
		{"WithGroup token", func(l *slog.Logger) {
			l.WithGroup("token").Info("refreshed", "value", "hunter2")
		}, "refreshed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := otel.NewLogger("info", &buf)
			if err != nil {
				t.Fatal(err)
			}
			tt.log(log)
			if strings.Contains(buf.String(), "hunter2") {
				t.Errorf("line shows the secret: %s", buf.String())
			}
			if !strings.Contains(buf.String(), tt.keep) {
				t.Errorf("line lost %q: %s", tt.keep, buf.String())
			}
		})
	}
}
