// Command danube-test-broker runs the in-process test broker of package
// danubetest as a process of its own, so that programs such as
// danube-sink-mongodb and danube-source-jsonl can be tried and tested
// without a Danube installation.
//
// It is a test broker, not a production broker: it keeps every topic,
// message and subscription in memory, loses them all when it exits, has no
// authentication, and follows broker v0.15.1 only as far as package
// danubetest documents. Run the real Danube broker for anything else.
//
//	go run ./danube/danubetest/cmd/danube-test-broker -topics /default/orders
//
// It serves the client protocol on -addr (127.0.0.1:6650, the real broker's
// client port) and the admin protocol on -admin-addr (127.0.0.1:50051, its
// admin port), creates the reliable topics that -topics lists, and then
// prints two lines to standard output:
//
//	DANUBE_SERVICE_URL=http://127.0.0.1:6650
//	DANUBE_ADMIN_URL=http://127.0.0.1:50051
//
// Once they are printed the broker accepts calls. It logs to standard
// error and runs until SIGINT or SIGTERM, then stops and exits 0. It exits
// 1 when it cannot start, for example because a port is taken, and 2 for
// an invalid command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

const programName = "danube-test-broker"

// Exit statuses.
const (
	exitOK         = 0
	exitFailure    = 1
	exitInvalidCLI = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the broker from the command line args (without the program
// name), prints its URLs to stdout once it accepts calls, and serves until
// ctx is done. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:6650", "host:port to serve the client protocol on; port 0 picks a free port")
	adminAddr := flags.String("admin-addr", "127.0.0.1:50051", "host:port to serve the admin protocol on; port 0 picks a free port")
	topics := flags.String("topics", "", "comma-separated reliable topics to create at start, such as /default/orders,/shop/events; a missing namespace is created too")
	window := flags.Int("window", danubetest.DefaultWindow, "default dispatch window of reliable subscriptions (unacknowledged messages in flight), 1 to 10000")
	flags.Usage = func() {}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(stdout, flags)
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: run %s -help for the flags\n", programName, programName)
		return exitInvalidCLI
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q; run %s -help\n", programName, flags.Arg(0), programName)
		return exitInvalidCLI
	}
	topicNames, err := parseTopics(*topics)
	if err != nil {
		fmt.Fprintf(stderr, "%s: -topics: %v\n", programName, err)
		return exitInvalidCLI
	}
	for _, f := range []struct{ name, value string }{{"addr", *addr}, {"admin-addr", *adminAddr}} {
		if err := checkAddr(f.value); err != nil {
			fmt.Fprintf(stderr, "%s: -%s: %v\n", programName, f.name, err)
			return exitInvalidCLI
		}
	}
	if *window < 1 || *window > maxWindow {
		fmt.Fprintf(stderr, "%s: -window: invalid value %d: use 1 to %d\n", programName, *window, maxWindow)
		return exitInvalidCLI
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	broker, err := danubetest.New(
		danubetest.WithAddr(*addr),
		danubetest.WithAdminAddr(*adminAddr),
		danubetest.WithWindow(*window),
		danubetest.WithLogger(log),
	)
	if err != nil {
		fmt.Fprintf(stderr, "%s: failed to start: %v\n", programName, err)
		return exitFailure
	}
	defer broker.Close()

	for _, topic := range topicNames {
		if err := createTopic(broker, topic); err != nil {
			fmt.Fprintf(stderr, "%s: failed to create topic %s: %v\n", programName, topic, err)
			return exitFailure
		}
		log.Info("topic created", "topic", topic, "reliable", true)
	}

	fmt.Fprintf(stdout, "DANUBE_SERVICE_URL=%s\nDANUBE_ADMIN_URL=%s\n", broker.URL(), broker.AdminURL())

	<-ctx.Done()
	log.Info("stopping on signal; the broker's state is lost")
	return exitOK
}

// writeHelp writes the usage and the flags to w.
func writeHelp(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", programName)
	fmt.Fprintln(w, "Runs an in-memory Danube test broker until SIGINT or SIGTERM. It is not a")
	fmt.Fprintln(w, "production broker: every topic and message is lost when it exits.")
	fmt.Fprintln(w, "\nFlags:")
	flags.SetOutput(w)
	flags.PrintDefaults()
}

// maxWindow is the largest -window value.
const maxWindow = 10000

// parseTopics splits the -topics value into topic names, skipping empty
// entries and repeats, and rejects a name that the broker would reject.
func parseTopics(list string) ([]string, error) {
	var names []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(names, name) {
			continue
		}
		if _, ok := namespaceOf(name); !ok {
			return nil, fmt.Errorf("invalid topic %q: use /namespace/topic, such as /default/orders", name)
		}
		if err := danube.ValidateTopic(name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// checkAddr rejects an address that is not host:port with a host clients
// can dial, because the broker returns its own address in topic lookups.
func checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: use host:port, such as 127.0.0.1:6650", addr)
	}
	ipPart, _, _ := strings.Cut(host, "%")
	if ip := net.ParseIP(ipPart); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("invalid address %q: clients must be able to dial its host, such as 127.0.0.1", addr)
	}
	return nil
}

// namespaceOf returns the namespace of a topic name /namespace/topic.
func namespaceOf(topic string) (string, bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 3 || parts[0] != "" || parts[1] == "" || parts[2] == "" {
		return "", false
	}
	return parts[1], true
}

// createTopic creates topic as a reliable topic, and its namespace first
// when the broker does not have it yet.
func createTopic(broker *danubetest.Broker, topic string) error {
	namespace, _ := namespaceOf(topic)
	broker.CreateNamespace(namespace)
	return broker.CreateTopic(topic, true)
}
