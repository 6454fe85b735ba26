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
func brokerAddress(url string) (string, error) {
	addr := strings.TrimSpace(url)
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
