package mongodb

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// checkDriverOptions parses the connection string s, split as parts, with
// the Go driver's options.Client().ApplyURI, as Open does, and returns
// what the driver rejects, or "". It names the option at fault when there
// is one. The result never shows the credentials or the value of an
// option that carries a secret.
//
// It does no network I/O, but the driver reads the files that options
// such as tlsCAFile name. For mongodb:// the driver's parser does no I/O
// of its own (v2.10). For mongodb+srv it would look up the host's SRV and
// TXT records, so the string is parsed as mongodb:// with the same host
// and with TLS on, as SRV implies. The SRV-only options are checked here
// instead. The options that a TXT record adds are checked only by Open.
//
// NOTE: a file that never ends, such as a FIFO named by tlsCAFile, blocks
// it, as it blocks the driver's own ApplyURI in Open.
func checkDriverOptions(s string, parts uriParts) string {
	pairs := splitOptions(parts.options)
	srv := parts.scheme == "mongodb+srv"
	maxHosts := 0
	if srv {
		var problem string
		pairs, maxHosts, problem = takeSRVOptions(parts.hosts, pairs)
		if problem != "" {
			return fmt.Sprintf("%s %s", RedactURI(s), problem)
		}
	}

	opts, err := parseOptions(parts, pairs, srv)
	if err != nil {
		return describeRejection(s, parts, pairs, srv)
	}
	if !srv {
		return ""
	}
	switch {
	case opts.Direct != nil && *opts.Direct:
		return fmt.Sprintf("%s has directConnection=true or connect=direct, which mongodb+srv does not allow: the SRV record may name several servers", RedactURI(s))
	case maxHosts > 0 && opts.ReplicaSet != nil:
		return fmt.Sprintf("%s has both srvMaxHosts and replicaSet, which the driver does not allow: remove one", RedactURI(s))
	case maxHosts > 0 && opts.LoadBalanced != nil && *opts.LoadBalanced:
		return fmt.Sprintf("%s has both srvMaxHosts and loadBalanced=true, which the driver does not allow: remove one", RedactURI(s))
	}
	return ""
}

// parseOptions builds a mongodb:// string from parts with the options
// pairs, and for srv TLS on unless pairs set tls or ssl, and applies it to
// new client options. Only a mongodb:// string is ever parsed, so the
// driver resolves nothing.
func parseOptions(parts uriParts, pairs []string, srv bool) (*options.ClientOptions, error) {
	if srv && !slices.ContainsFunc(pairs, isTLSOption) {
		pairs = slices.Concat([]string{"tls=true"}, pairs)
	}
	var b strings.Builder
	b.WriteString("mongodb://")
	if parts.hasUserInfo {
		b.WriteString(parts.userInfo)
		b.WriteByte('@')
	}
	b.WriteString(parts.hosts)
	b.WriteString(parts.path)
	if len(pairs) > 0 {
		if parts.path == "" {
			b.WriteByte('/')
		}
		b.WriteByte('?')
		b.WriteString(strings.Join(pairs, "&"))
	}
	opts := options.Client().ApplyURI(b.String())
	return opts, opts.Validate()
}

// maxBlamedOptions bounds the options describeRejection tries one by
// one: each try parses the whole string again and reads the TLS files it
// names, so a string with thousands of options would take minutes.
const maxBlamedOptions = 64

// describeRejection returns the problem with a connection string that the
// driver rejects. When leaving out one option, and only that one, makes
// the rest parse, it names that option, with its value unless the value is
// a secret. Otherwise (several bad options, two options in conflict, or
// more than maxBlamedOptions) it gives the driver's message alone. The driver's
// message may quote the string, so it is scrubbed of the string's
// secrets.
func describeRejection(s string, parts uriParts, pairs []string, srv bool) string {
	scrub := newScrubber(s)
	_, err := parseOptions(parts, pairs, srv)
	if err == nil {
		// Unreachable: the caller saw the same parse fail, and parsing
		// depends only on the string and the files it names.
		return fmt.Sprintf("%s is rejected by the MongoDB driver", RedactURI(s))
	}
	message := driverMessage(scrub.scrub(err))
	culprit := -1
	if len(pairs) <= maxBlamedOptions {
		for i := range pairs {
			rest := slices.Concat(pairs[:i], pairs[i+1:])
			if _, err := parseOptions(parts, rest, srv); err != nil {
				continue
			}
			if culprit >= 0 { // two options conflict: blame neither
				culprit = -1
				break
			}
			culprit = i
		}
	}
	if culprit < 0 {
		return fmt.Sprintf("%s is rejected by the MongoDB driver: %s", RedactURI(s), message)
	}
	option, _ := scrub.scrubText(displayOption(pairs[culprit]))
	return fmt.Sprintf("%s has an invalid option %s: %s", RedactURI(s), option, message)
}

// driverMessage returns err's text without the prefix that the driver
// adds to every parse or validation error.
func driverMessage(err error) string {
	message := err.Error()
	for _, prefix := range []string{"error parsing uri: ", "error validating uri: "} {
		message = strings.TrimPrefix(message, prefix)
	}
	return message
}

// displayOption returns an option as key=value for a message, decoded,
// or only its key when its value is a secret.
func displayOption(pair string) string {
	key, value, _ := strings.Cut(pair, "=")
	key, _ = url.QueryUnescape(key)
	if slices.Contains(secretOptions, strings.ToLower(key)) {
		return key
	}
	value, _ = url.QueryUnescape(value)
	return key + "=" + value
}

// isTLSOption reports whether pair sets tls or ssl, which the driver
// takes as the same option.
func isTLSOption(pair string) bool {
	key, _, _ := strings.Cut(pair, "=")
	key, _ = url.QueryUnescape(key)
	return strings.EqualFold(key, "tls") || strings.EqualFold(key, "ssl")
}

// takeSRVOptions checks what the driver checks of a mongodb+srv string
// before its DNS lookups: one host without a port, and the options
// srvMaxHosts and srvServiceName. It returns pairs without those two
// options, which a mongodb:// string must not have, and srvMaxHosts.
func takeSRVOptions(hosts string, pairs []string) (rest []string, maxHosts int, problem string) {
	if strings.Contains(hosts, ",") {
		return nil, 0, "names more than one host, but mongodb+srv takes one: the host's SRV record names the servers"
	}
	if port, _ := portOf(hosts); port != "" {
		return nil, 0, "has a port, but a mongodb+srv host takes none: the host's SRV record gives the ports"
	}
	for _, pair := range pairs {
		key, value, _ := strings.Cut(pair, "=")
		key, _ = url.QueryUnescape(key)
		value, _ = url.QueryUnescape(value)
		switch strings.ToLower(key) {
		case "srvmaxhosts":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, 0, fmt.Sprintf("has an invalid option %s=%s: the value must be an integer of 0 or more", key, value)
			}
			maxHosts = n
		case "srvservicename":
			if len(value) < 1 || len(value) > 62 {
				return nil, 0, fmt.Sprintf("has an invalid option %s=%s: the value must be 1 to 62 characters long", key, value)
			}
		default:
			rest = append(rest, pair)
		}
	}
	return rest, maxHosts, ""
}
