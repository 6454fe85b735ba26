package ops_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/otel"
	"github.com/danube-messaging/danube-connect-go/otel/ops"
	"github.com/danube-messaging/danube-connect-go/supervisor"
)

// scrape returns the body of GET /metrics on an ops server whose metrics
// handler is h.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(ops.NewServer("", h, nil, nil).Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	srv.Client().CloseIdleConnections()
	return string(body)
}

func TestPrometheusHandlerServesConnectorMetrics(t *testing.T) {
	mp, handler, err := ops.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mp.Shutdown(context.Background()) }()
	inst, err := otel.New(otel.Options{MeterProvider: mp, Connector: "mongo", Topic: "/default/orders", Subscription: "sink"})
	if err != nil {
		t.Fatal(err)
	}

	obs := inst.StageObserver()
	obs.Received("consume", 5)
	obs.Received("consume", 2)
	obs.Settled("ack", 6, 1, 0)
	obs.Wrote("write", 7, 700, 3*time.Millisecond, nil)
	hook := inst.SupervisorHook()
	hook(supervisor.ChildStarted{ChildPath: "sink/write", Restarts: 1})

	body := scrape(t, handler)
	base := map[string]string{
		"danube_connector_name":         "mongo",
		"messaging_system":              "danube",
		"messaging_destination_name":    "/default/orders",
		"messaging_consumer_group_name": "sink",
	}
	with := func(kv ...string) map[string]string {
		m := make(map[string]string, len(base)+len(kv)/2)
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"danube_connector_stage_received_total", with("danube_stage_name", "consume"), 7},
		{"danube_connector_messages_settled_total", with("danube_stage_name", "ack", "messaging_operation_name", "ack", "messaging_operation_type", "settle"), 6},
		{"danube_connector_messages_settled_total", with("messaging_operation_name", "nack"), 1},
		{"danube_connector_batch_size_sum", with("danube_stage_name", "write"), 7},
		{"danube_connector_batch_size_count", with("danube_stage_name", "write"), 1},
		{"danube_connector_write_duration_seconds_count", with("danube_stage_name", "write"), 1},
		{"danube_connector_supervisor_restarts_total", with("danube_supervisor_child_path", "sink/write"), 1},
	}
	for _, tt := range tests {
		got, ok := sample(body, tt.name, tt.labels)
		if !ok {
			t.Errorf("no sample %s%v in the scrape:\n%s", tt.name, tt.labels, body)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if !strings.Contains(body, "go_goroutines ") {
		t.Error("the scrape lacks the Go runtime metrics")
	}
}

// sample returns the value of the first sample of metric name whose labels
// include every pair of labels, in the text exposition format.
func sample(body, name string, labels map[string]string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		series, value := line[:cut], line[cut+1:]
		all := true
		for k, v := range labels {
			if !strings.Contains(series, k+"="+strconv.Quote(v)) {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		return f, err == nil
	}
	return 0, false
}
