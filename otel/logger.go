package otel

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ParseLevel returns the slog level named by s, as the environment
// variable LOG_LEVEL gives it: debug, info, warn or error, in any case and
// with surrounding spaces ignored. An empty s means info. Any other value
// is an error naming it and the accepted ones.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q: want debug, info, warn or error", s)
}

// NewLogger returns the logger of a connector binary: JSON lines on w, one
// object per record, at the level that ParseLevel reads from level.
//
// As a last line of defence against secrets in logs, it replaces the value
// of any attribute whose key names a secret (containing password, passwd,
// secret, token, credential or authorization, in any case) with
// "REDACTED", and removes the password from any string value that parses
// as a URL with one, such as a MongoDB connection string. This does not
// see inside errors or messages: code must still keep secrets out of what
// it logs.
//
// It writes a time.Duration as its String form, such as "1.5s" or
// "102.47ms", where slog's JSON handler writes nanoseconds.
func NewLogger(level string, w io.Writer) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: replaceAttr})
	return slog.New(h), nil
}

// replaceAttr is the ReplaceAttr of NewLogger's handler: it redacts
// secrets, then writes durations readably.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	a = redactAttr(groups, a)
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// secretKeys are the words that mark an attribute key as naming a secret.
var secretKeys = []string{"password", "passwd", "secret", "token", "credential", "authorization"}

// Redacted replaces the value of an attribute that names a secret.
const Redacted = "REDACTED"

// redactAttr replaces the value of an attribute whose key names a secret,
// and the password of a URL in a string value.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, s := range secretKeys {
		if strings.Contains(key, s) {
			return slog.String(a.Key, Redacted)
		}
	}
	if a.Value.Kind() == slog.KindString {
		if v, ok := redactURL(a.Value.String()); ok {
			return slog.String(a.Key, v)
		}
	}
	return a
}

// redactURL returns s with the password of its user info replaced, and
// true, when s looks like a URL with a password; otherwise false. It does
// not parse s as a URL, because a connection string with several hosts or
// an unescaped character in the password fails to parse and would then go
// out whole. It may redact more than the password of an odd URL, such as
// one with '@' in its path, but never less.
func redactURL(s string) (string, bool) {
	scheme := strings.Index(s, "://")
	if scheme < 0 {
		return "", false
	}
	rest := s[scheme+3:]
	if end := strings.IndexAny(rest, "?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return "", false
	}
	colon := strings.Index(rest[:at], ":")
	if colon < 0 {
		return "", false // a user without a password
	}
	from, to := scheme+3+colon+1, scheme+3+at
	return s[:from] + Redacted + s[to:], true
}
