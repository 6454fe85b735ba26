package mongodb

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// redactedUserInfo replaces the user information of a connection string.
const redactedUserInfo = "xxxxx"

// redactedRest replaces everything after the scheme of a connection string
// that does not parse.
const redactedRest = "<redacted: the connection string does not parse>"

// RedactURI returns the connection string reduced to its scheme, hosts and
// path, for logs and errors: the user information becomes xxxxx and the
// options are dropped, because options such as authMechanismProperties or
// tlsCertificateKeyFilePassword may carry secrets too. The string is split
// as the Go driver splits it, so a user name or password with an
// unescaped '?' or '#' stays hidden. When the driver could not parse the
// string, no one can tell where a password ends, so everything after the
// scheme is replaced.
func RedactURI(uri string) string {
	parts, problem := splitURI(uri)
	switch {
	case parts.scheme == "":
		return "<connection string without scheme>"
	case problem != "":
		return parts.scheme + "://" + redactedRest
	case parts.userInfo != "":
		return parts.scheme + "://" + redactedUserInfo + "@" + parts.hosts + parts.path
	default:
		return parts.scheme + "://" + parts.hosts + parts.path
	}
}

// secretOptions are the options, in lower case, whose values are secrets.
var secretOptions = []string{"authmechanismproperties", "tlscertificatekeyfilepassword", "sslclientcertificatekeypassword"}

// secretsOf returns the strings of uri that must never be shown: its user
// information, the password, and the values of options that carry
// secrets, each as written and decoded. For a string that does not parse
// it returns everything after the scheme, and the user information and
// password that any '@' could end.
func secretsOf(uri string) []string {
	var secrets []string
	// Each secret goes in as written and decoded both ways: the query
	// decoder, which the driver uses for option values, reads '+' as a
	// space. Each of these forms also goes in as %q escapes it, because
	// the driver quotes values in its errors.
	add := func(s string, unescape func(string) (string, error)) {
		if s == "" {
			return
		}
		forms := []string{s}
		for _, decode := range []func(string) (string, error){unescape, url.PathUnescape, url.QueryUnescape} {
			if decoded, err := decode(s); err == nil && decoded != "" && !slices.Contains(forms, decoded) {
				forms = append(forms, decoded)
			}
		}
		for _, form := range forms {
			secrets = append(secrets, form)
			if quoted := strconv.Quote(form); quoted[1:len(quoted)-1] != form {
				secrets = append(secrets, quoted[1:len(quoted)-1])
			}
		}
	}

	parts, problem := splitURI(uri)
	if problem != "" {
		_, rest, _ := strings.Cut(uri, "://")
		add(rest, url.PathUnescape)
		for at := strings.LastIndexByte(rest, '@'); at >= 0; at = strings.LastIndexByte(rest[:at], '@') {
			add(rest[:at], url.PathUnescape)
			if _, password, ok := strings.Cut(rest[:at], ":"); ok {
				add(password, url.PathUnescape)
			}
		}
		return secrets
	}

	add(parts.userInfo, url.PathUnescape)
	add(parts.password, url.PathUnescape)
	for _, option := range splitOptions(parts.options) {
		key, value, _ := strings.Cut(option, "=")
		key, _ = url.QueryUnescape(key)
		if !slices.Contains(secretOptions, strings.ToLower(key)) {
			continue
		}
		add(value, url.QueryUnescape)
		if strings.EqualFold(key, "authMechanismProperties") {
			decoded, _ := url.QueryUnescape(value)
			for _, property := range strings.Split(decoded, ",") {
				if _, v, ok := strings.Cut(property, ":"); ok {
					add(v, url.QueryUnescape)
				}
			}
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
	msg, ok := s.scrubText(err.Error())
	if !ok {
		return err
	}
	return &redactedError{msg: msg}
}

// scrubText returns msg with the secrets replaced, and whether it showed
// any.
func (s scrubber) scrubText(msg string) (string, bool) {
	// Mark every byte that belongs to an occurrence of any secret in the
	// original message, then replace each run of marked bytes. Replacing
	// secret by secret would miss a secret that another one's replacement
	// cut, such as a password that starts with the user name.
	var hidden []bool
	for _, secret := range s.secrets {
		for from := 0; ; {
			i := strings.Index(msg[from:], secret)
			if i < 0 {
				break
			}
			if hidden == nil {
				hidden = make([]bool, len(msg))
			}
			start := from + i
			for j := start; j < start+len(secret); j++ {
				hidden[j] = true
			}
			from = start + 1
		}
	}
	if hidden == nil {
		return msg, false
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !hidden[i] {
			b.WriteByte(msg[i])
			i++
			continue
		}
		b.WriteString(redactedUserInfo)
		for i < len(msg) && hidden[i] {
			i++
		}
	}
	return b.String(), true
}

// redactedError is an error whose message had secrets removed.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }
