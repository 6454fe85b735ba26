package otel

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
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
// secret, token, credential or authorization, in any case), or that is in
// a group so named, with "REDACTED", and removes the password of every URL
// in a string value, such as a MongoDB connection string. This does not
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

// redactAttr replaces the value of an attribute whose key, or the name of
// a group it is in, names a secret, and the password of every URL in a
// string value. slog calls ReplaceAttr on the members of a group, with
// the group names in groups, and on the resolved value of a LogValuer, so
// a secret in a group or behind a LogValuer is found here too.
func redactAttr(groups []string, a slog.Attr) slog.Attr {
	if namesSecret(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if namesSecret(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	if a.Value.Kind() == slog.KindString {
		if v, ok := redactURLs(a.Value.String()); ok {
			return slog.String(a.Key, v)
		}
	}
	return a
}

// namesSecret reports whether key contains one of secretKeys, in any case.
func namesSecret(key string) bool {
	key = strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}

// redactURLs returns s with the password of every URL in it replaced, and
// true, when s holds a URL with a password; otherwise false. A URL runs
// from its "://" to the next white space. It does not parse the URLs,
// because a connection string with several hosts or an unescaped '?',
// '#' or '@' in the password fails to parse and would then go out whole.
// The user info is taken to end at the URL's last '@', and the password
// to start after the first ':'. So it may redact more than the password
// of an odd URL, such as one with '@' in its path, but never less.
func redactURLs(s string) (string, bool) {
	var b strings.Builder
	changed := false
	for {
		scheme := strings.Index(s, "://")
		if scheme < 0 {
			break
		}
		start := scheme + 3
		end := len(s)
		if i := strings.IndexFunc(s[start:], unicode.IsSpace); i >= 0 {
			end = start + i
		}
		u := s[start:end]
		at := strings.LastIndex(u, "@")
		colon := -1
		if at >= 0 {
			colon = strings.Index(u[:at], ":")
		}
		if colon < 0 { // no user info, or a user without a password
			b.WriteString(s[:end])
			s = s[end:]
			continue
		}
		b.WriteString(s[:start+colon+1])
		b.WriteString(Redacted)
		b.WriteString(s[start+at : end])
		s = s[end:]
		changed = true
	}
	if !changed {
		return "", false
	}
	b.WriteString(s)
	return b.String(), true
}
