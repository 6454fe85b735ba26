package mongodb

import (
	"net/url"
	"strconv"
	"strings"
)

// uriParts is a connection string split into its parts, each as written
// (still percent-encoded).
type uriParts struct {
	scheme string
	// userInfo is the text before the '@' that ends the user information.
	// hasUserInfo is false when the string has none, true when it is empty.
	userInfo    string
	hasUserInfo bool
	// user and password are userInfo cut at its first ':'.
	user, password string
	hosts          string
	// path is the '/' after the hosts and the database name, or empty.
	path string
	// options is the text after the '?' that follows the path.
	options string
}

// splitURI splits a connection string the way the Go driver (v2.10)
// reads it, so that what it calls user information is what the driver
// sends as credentials. The user information ends at the first '@' after
// "://". The hosts end at the next '/' or '?', and the path at the
// following '?'. A user name or password therefore may contain an
// unescaped '?' or '#', but neither '/' nor '@', and a password no ':'.
//
// When the driver would reject the string, splitURI returns what is wrong
// as problem, which never quotes the string: the string may contain a
// password, and without a clean split its position is unknown. The
// scheme is split off but not checked against mongodb and mongodb+srv.
func splitURI(uri string) (parts uriParts, problem string) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return uriParts{}, "has no scheme: start it with mongodb:// or mongodb+srv://"
	}
	parts.scheme = scheme

	if at := strings.IndexByte(rest, '@'); at >= 0 {
		parts.userInfo, parts.hasUserInfo = rest[:at], true
		rest = rest[at+1:]
		parts.user, parts.password, _ = strings.Cut(parts.userInfo, ":")
		switch {
		case strings.Contains(parts.userInfo, "/"):
			return parts, "has a '/' in the user name or password: percent-encode it as %2F"
		case strings.Contains(parts.password, ":"):
			return parts, "has a ':' in the password: percent-encode it as %3A"
		case !canPathUnescape(parts.user) || !canPathUnescape(parts.password):
			return parts, "has an invalid percent-encoding in the user name or password"
		}
	}

	parts.hosts = rest
	if end := strings.IndexAny(rest, "/?@"); end >= 0 {
		switch rest[end] {
		case '@':
			return parts, "has an '@' in the user name or password: percent-encode it as %40"
		case '?':
			return parts, "has options without a '/' before the '?'"
		}
		parts.hosts = rest[:end]
	}
	if problem := checkHosts(parts.hosts); problem != "" {
		return parts, problem
	}
	rest = rest[len(parts.hosts):]

	parts.path = rest
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		parts.path, parts.options = rest[:q], rest[q+1:]
	}
	if _, err := url.QueryUnescape(strings.TrimPrefix(parts.path, "/")); err != nil {
		return parts, "has an invalid percent-encoding in the database name"
	}
	for _, option := range splitOptions(parts.options) {
		key, value, ok := strings.Cut(option, "=")
		if !ok || key == "" {
			return parts, "has an option that is not key=value"
		}
		if _, err := url.QueryUnescape(key); err != nil {
			return parts, "has an option name with an invalid percent-encoding"
		}
		if _, err := url.QueryUnescape(value); err != nil {
			return parts, "has an option value with an invalid percent-encoding"
		}
	}
	return parts, ""
}

// validScheme reports whether s has the form of a URI scheme: a letter,
// then letters, digits, '+', '-' or '.'.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func canPathUnescape(s string) bool {
	_, err := url.PathUnescape(s)
	return err == nil
}

// checkHosts checks a comma-separated host list as the driver does: each
// host is a name, an IPv6 address in brackets or a percent-encoded Unix
// socket path, optionally with a port from 1 to 65535. Empty entries are
// skipped, but at least one host must remain.
func checkHosts(hosts string) string {
	n := 0
	for _, host := range strings.Split(hosts, ",") {
		if host == "" {
			continue
		}
		n++
		unescaped, err := url.QueryUnescape(host)
		if err != nil {
			return "has a host with an invalid percent-encoding"
		}
		port, ok := portOf(unescaped)
		if !ok {
			return "has a host that is not host, host:port or [address]:port"
		}
		if port == "" {
			continue
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "has a port that is not a number from 1 to 65535"
		}
	}
	if n == 0 {
		return "names no host"
	}
	return ""
}

// portOf returns the port of host, empty when it has none, and reports
// false when host has too many colons or unbalanced brackets.
func portOf(host string) (port string, ok bool) {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", false
		}
		switch rest := host[end+1:]; {
		case rest == "":
			return "", true
		case rest[0] == ':':
			return rest[1:], true
		default:
			return "", false
		}
	}
	if strings.ContainsAny(host, "[]") {
		return "", false
	}
	switch strings.Count(host, ":") {
	case 0:
		return "", true
	case 1:
		_, port, _ := strings.Cut(host, ":")
		return port, true
	default:
		return "", false
	}
}

// splitOptions splits the options of a connection string at '&' and ';',
// dropping empty ones, as the driver does.
func splitOptions(options string) []string {
	return strings.FieldsFunc(options, func(r rune) bool { return r == '&' || r == ';' })
}
