package sink

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// capturedLog is a slog.Handler that keeps the records at WARN and above.
type capturedLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *capturedLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *capturedLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *capturedLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *capturedLog) WithGroup(string) slog.Handler      { return h }

// failureWarning is one warning about dead-lettered or nacked records.
type failureWarning struct {
	route, reason string
	records       int
}

// warnings returns the warnings whose message is msg, in order.
func (h *capturedLog) warnings(msg string) []failureWarning {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []failureWarning
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		var w failureWarning
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "route":
				w.route = a.Value.String()
			case "records":
				w.records = int(a.Value.Int64())
			case "first_reason":
				w.reason = a.Value.String()
			}
			return true
		})
		out = append(out, w)
	}
	return out
}

const (
	deadLetteredWarning = "records dead-lettered"
	nackedWarning       = "records nacked; the broker delivers them again"
)

// failingBatchSizes returns the size of each batch given to Write whose
// records have the given delivery attempt.
func failingBatchSizes(c *testConn, attempt int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sizes []int
	for _, b := range c.batches {
		if len(b) > 0 && b[0].attempt == attempt {
			sizes = append(sizes, len(b))
		}
	}
	return sizes
}

// checkOneWarningPerBatch checks that warnings hold one warning per
// failed batch, in order, with that batch's size, the route and reason.
func checkOneWarningPerBatch(t *testing.T, warnings []failureWarning, batchSizes []int, reason string) {
	t.Helper()
	if len(warnings) != len(batchSizes) {
		t.Fatalf("%d warnings for %d failed batches of sizes %v: %+v; want one per batch", len(warnings), len(batchSizes), batchSizes, warnings)
	}
	for i, w := range warnings {
		if w.records != batchSizes[i] {
			t.Errorf("warning %d counts %d records, want %d, the size of its batch", i, w.records, batchSizes[i])
		}
		if !strings.Contains(w.reason, reason) {
			t.Errorf("warning %d has the first reason %q, want it to contain %q", i, w.reason, reason)
		}
		if w.route != testTopic+"@"+testSub {
			t.Errorf("warning %d names the route %q, want %s@%s", i, w.route, testTopic, testSub)
		}
	}
}

// publishWhileFirstWriteBlocks publishes n records while the connector's
// first Write blocks on release, so that the records after the first one
// wait in the pipeline and later batches hold several. n must not exceed
// the messages the test broker delivers to a consumer before acks,
// danubetest.DefaultWindow.
func publishWhileFirstWriteBlocks(t *testing.T, e *env, r *running, release chan struct{}, n int) {
	t.Helper()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before Run must return, should a wait fail
	e.publish(testTopic, "m", n)
	r.waitInFlight(t, int64(n))
	unblock()
}

func TestDeadLettersWarnedOncePerBatch(t *testing.T) {
	const records = 10
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	release := make(chan struct{})
	conn := newTestConn()
	conn.write = func(call int, _ []*Record) error {
		if call == 1 {
			<-release
		}
		return InvalidData(errors.New("field total is not a number"))
	}
	cfg := e.config(testTopic, testSub)
	cfg.DeadLetterTopic = "/default/orders-dlq"
	log := &capturedLog{}
	r := start(t, conn, cfg, Options{Logger: slog.New(log)})
	r.waitReady(t)
	publishWhileFirstWriteBlocks(t, e, r, release, records)
	r.waitInFlight(t, 0)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	sizes := failingBatchSizes(conn, 1)
	if len(sizes) >= records {
		t.Fatalf("Write got %d batches for %d records, so one warning per batch cannot be told from one per record", len(sizes), records)
	}
	warnings := log.warnings(deadLetteredWarning)
	checkOneWarningPerBatch(t, warnings, sizes, "field total is not a number")
	total := 0
	for _, w := range warnings {
		total += w.records
	}
	if total != records {
		t.Errorf("warnings count %d dead-lettered records, want %d", total, records)
	}
	if got := log.warnings(nackedWarning); len(got) != 0 {
		t.Errorf("nack warnings %+v, want none: every record was dead-lettered", got)
	}
}

func TestExhaustedRetriesWarnedOncePerBatch(t *testing.T) {
	const records = 10
	e := newEnv(t)
	e.subscribe(testTopic, testSub, 3)

	// Every write of a first delivery fails; the redelivery is written.
	release := make(chan struct{})
	conn := newTestConn()
	conn.write = func(call int, batch []*Record) error {
		if call == 1 {
			<-release
		}
		if batch[0].Attempt == 1 {
			return Retryable(errors.New("server busy"))
		}
		return nil
	}
	cfg := e.config(testTopic, testSub)
	cfg.MaxRetries = 1
	log := &capturedLog{}
	r := start(t, conn, cfg, Options{Logger: slog.New(log)})
	r.waitReady(t)
	publishWhileFirstWriteBlocks(t, e, r, release, records)
	conn.waitUntil(t, "every record is written", func(c *testConn) bool { return len(c.ok) == records })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Each failed batch went to Write twice: its attempt and one retry.
	var sizes []int
	for i, size := range failingBatchSizes(conn, 1) {
		if i%2 == 0 {
			sizes = append(sizes, size)
		}
	}
	if len(sizes) >= records {
		t.Fatalf("Write got %d failing batches for %d records, so one warning per batch cannot be told from one per record", len(sizes), records)
	}
	warnings := log.warnings(nackedWarning)
	checkOneWarningPerBatch(t, warnings, sizes, "write failed after 2 attempts: server busy")
	if got := log.warnings(deadLetteredWarning); len(got) != 0 {
		t.Errorf("dead-letter warnings %+v, want none", got)
	}
}
