package otel_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
	"github.com/danube-messaging/danube-connect-go/stage"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// A connector's pipeline reports to Prometheus through the ops server, and
// a scrape of /metrics shows what it did.
func Example() {
	mp, metrics, err := ops.NewPrometheus()
	if err != nil {
		panic(err)
	}
	defer func() { _ = mp.Shutdown(context.Background()) }()
	inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "mongodb", Topic: "/default/orders", Subscription: "mongodb-sink"})
	if err != nil {
		panic(err)
	}

	p := stage.New("sink", stage.Options{
		Observer:   inst.StageObserver(),
		Supervisor: []supervisor.Option{supervisor.WithHook(inst.SupervisorHook())},
	})
	reg, err := inst.ObservePipeline(p)
	if err != nil {
		panic(err)
	}
	defer func() { _ = reg.Unregister() }()
	src := stage.From(p, "consume", countSource(100))
	stage.Write(stage.Batch(src, "batch", stage.BatchOptions{MaxCount: 50}), "write",
		stage.WriterFunc[int](func(context.Context, []stage.Msg[int]) error { return nil }), stage.WriteOptions{})
	if err := p.Run(context.Background()); err != nil {
		panic(err)
	}

	srv := httptest.NewServer(ops.NewServer("", metrics, nil, nil).Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	printSamples(resp.Body, "danube_connector_messages_settled_total", "danube_connector_messages_pending")
	srv.Client().CloseIdleConnections()

	// Output:
	// danube_connector_messages_pending 0
	// danube_connector_messages_settled_total messaging_operation_name="ack" 100
}

// printSamples prints the value of each sample of the named metrics, after
// its operation name when it has one.
func printSamples(r io.Reader, names ...string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range names {
			if !strings.HasPrefix(line, name+"{") {
				continue
			}
			cut := strings.LastIndexByte(line, ' ')
			series, value := line[:cut], line[cut+1:]
			if op := labelValue(series, "messaging_operation_name"); op != "" {
				fmt.Printf("%s %s=%q %s\n", name, "messaging_operation_name", op, value)
			} else {
				fmt.Printf("%s %s\n", name, value)
			}
		}
	}
}

// labelValue returns the value of label in a series of the Prometheus text
// format, or "".
func labelValue(series, label string) string {
	i := strings.Index(series, label+`="`)
	if i < 0 {
		return ""
	}
	rest := series[i+len(label)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}
