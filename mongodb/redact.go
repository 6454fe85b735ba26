package mongodb

import (
	"net/url"
	"strings"
)

// redactedUserInfo replaces the user information of a connection string.
const redactedUserInfo = "xxxxx"

// RedactURI returns the connection string reduced to its scheme, hosts and
// path, for logs and errors: the user information becomes xxxxx and the
// options are dropped, because options such as authMechanismProperties or
// tlsCertificateKeyFilePassword may carry secrets too.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "<connection string without scheme>"
	}
	rest, _, _ = strings.Cut(rest, "?")
	userInfo, hosts := splitUserInfo(rest)
	if userInfo != "" {
		hosts = redactedUserInfo + "@" + hosts
	}
	return scheme + "://" + hosts
}

// splitUserInfo splits the part of a connection string after the scheme
// and before the options at its last '@', so that an unescaped '@' in a
// password stays in the user information.
func splitUserInfo(rest string) (userInfo, hostsAndPath string) {
	i := strings.LastIndex(rest, "@")
	if i < 0 {
		return "", rest
	}
	return rest[:i], rest[i+1:]
}

// secretsOf returns the strings of uri that must never be shown: its user
// information, the password, and the values of options that carry secrets,
// each as written and percent-decoded.
func secretsOf(uri string) []string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return nil
	}
	rest, query, _ := strings.Cut(rest, "?")

	var secrets []string
	add := func(s string) {
		if s == "" {
			return
		}
		secrets = append(secrets, s)
		if decoded, err := url.PathUnescape(s); err == nil && decoded != s {
			secrets = append(secrets, decoded)
		}
	}

	userInfo, _ := splitUserInfo(rest)
	add(userInfo)
	if _, password, ok := strings.Cut(userInfo, ":"); ok {
		add(password)
	}

	for _, option := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		key, value, _ := strings.Cut(option, "=")
		switch strings.ToLower(key) {
		case "authmechanismproperties", "tlscertificatekeyfilepassword", "sslclientcertificatekeypassword":
			add(value)
		}
	}
	return secrets
}

// scrubber removes the secrets of a connection string from error messages.
type scrubber struct {
	secrets []string
}

func newScrubber(uri string) scrubber {
	return scrubber{secrets: secretsOf(uri)}
}

// scrub returns err unchanged when its message shows no secret, and
// otherwise an error with the secrets replaced. The replacement does not
// wrap err, because err's own message, reachable through Unwrap, would
// show them.
func (s scrubber) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	found := false
	for _, secret := range s.secrets {
		if strings.Contains(msg, secret) {
			msg = strings.ReplaceAll(msg, secret, redactedUserInfo)
			found = true
		}
	}
	if !found {
		return err
	}
	return &redactedError{msg: msg}
}

// redactedError is an error whose message had secrets removed.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }
