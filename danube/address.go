package danube

import (
	"fmt"
	"net"
	"strings"
)

// brokerAddress turns a URL as users write it and as the broker advertises
// it ("http://host:6650", "https://host:6650", "host:6650") into the
// host:port that gRPC dials. The scheme does not choose TLS: the Client's
// options do, as for the broker's own clients.
//
// Its errors quote the URL with any user information ("user:password@")
// replaced, so that a credential written into the URL by mistake does not
// reach a log.
func brokerAddress(rawURL string) (string, error) {
	url := redactUserinfo(rawURL)
	addr := strings.TrimSpace(rawURL)
	for _, scheme := range []string{"http://", "https://"} {
		if len(addr) >= len(scheme) && strings.EqualFold(addr[:len(scheme)], scheme) {
			addr = addr[len(scheme):]
			break
		}
	}
	addr = strings.TrimSuffix(addr, "/")

	if addr == "" {
		return "", fmt.Errorf("invalid broker URL %q: no host:port", url)
	}
	if strings.Contains(addr, "://") {
		return "", fmt.Errorf("invalid broker URL %q: only http:// and https:// schemes are accepted", url)
	}
	if strings.Contains(addr, "@") {
		return "", fmt.Errorf("invalid broker URL %q: user information is not allowed in the URL; pass a token with WithToken", url)
	}
	if strings.Contains(addr, "/") {
		return "", fmt.Errorf("invalid broker URL %q: a path is not allowed, use host:port", url)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("invalid broker URL %q: want host:port: %w", url, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("invalid broker URL %q: want host:port with both parts", url)
	}
	return addr, nil
}

// redactUserinfo returns url with the user information of its authority,
// everything before the last '@' that comes before the first '/' after the
// scheme, replaced by "REDACTED".
func redactUserinfo(url string) string {
	start := 0
	if i := strings.Index(url, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(url)
	if i := strings.IndexByte(url[start:], '/'); i >= 0 {
		end = start + i
	}
	at := strings.LastIndexByte(url[start:end], '@')
	if at < 0 {
		return url
	}
	return url[:start] + "REDACTED" + url[start+at:]
}
