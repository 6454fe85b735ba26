package soak

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
)

// The names the soak uses on its broker and database.
const (
	soakTopic       = "/default/soak"
	soakPartitions  = 2
	deadLetterTopic = "/default/soak-dlq"
	connectorName   = "soak-sink"
	subscription    = connectorName // the sink's default subscription name
	databaseName    = "soak"
	collectionName  = "events"
)

// Settings of the sink process that the harness's waits depend on.
const (
	// sinkDrainTimeout is the sink's DRAIN_TIMEOUT_MS, the runtime's
	// default: time to write a full window when the database is slow.
	sinkDrainTimeout = 30 * time.Second
	// sinkExitWithin bounds the wait for a sink process to exit after
	// SIGTERM: its drain, the program's margin of 10 s before it forces
	// the stop, and time for a loaded machine.
	sinkExitWithin = sinkDrainTimeout + 10*time.Second + 20*time.Second
	// sinkStartWithin bounds the wait for a new sink process to be ready.
	sinkStartWithin = 90 * time.Second
	// dispatchWindow is the subscription's in-flight window, per
	// partition. The sink holds up to twice as many messages.
	dispatchWindow = 500
)

// failurePolicy is the broker's failure policy of the sink's subscription.
//
// Poison, records that can never be written, is the sink's to handle: the
// MongoDB connector reports it as invalid data and the runtime publishes it
// to the dead-letter topic with the reason, then acknowledges it. What
// reaches the broker as a nack or an ack timeout is therefore a transient
// failure: MongoDB down, a panic, a process killed before it acknowledged.
// Such a message must be delivered again until it is written, however long
// the outage. So the redelivery count is far beyond what any fault of the
// soak can use up, and the delays are short, so that a redelivery does not
// outlast the run. The poison policy DeadLetter is a backstop: a message
// that did exhaust its redeliveries lands in the same dead-letter topic,
// marked by the broker (x-poison-policy), where the check finds and
// reports it, instead of stalling the subscription (Block) or vanishing
// (Drop).
//
// The ack timeout redelivers what a killed process held, should the new
// process not take its consumer's place. It must be well above the time
// the sink takes to write a full window: a message that times out while
// the sink still holds it comes again, and a redelivered insert costs the
// sink a read-back, so a short timeout on a slow database feeds on itself.
var failurePolicy = danube.FailurePolicy{
	MaxRedeliveryCount:  1000,
	AckTimeout:          time.Minute,
	BaseRedeliveryDelay: 100 * time.Millisecond,
	MaxRedeliveryDelay:  2 * time.Second,
	Backoff:             danube.ExponentialBackoff,
	DeadLetterTopic:     deadLetterTopic,
	PoisonPolicy:        danube.DeadLetter,
}

// partitionTopic returns the name of partition i of the soak topic.
func partitionTopic(i int) string { return fmt.Sprintf("%s-part-%d", soakTopic, i) }

// harness owns the processes and servers of one soak run: the MongoDB
// server, the broker, and the sink process that it restarts.
type harness struct {
	t     *testing.T
	p     params
	dir   string
	start time.Time
	// deadline bounds every wait of the run.
	deadline time.Time

	mongo  *mongotest.Server
	broker *danubetest.Broker
	admin  *danube.Admin
	http   *http.Client

	sinkPath string
	events   faultEvents

	mu          sync.Mutex // guards proc and addr, which the sampler reads
	proc        *sinkProcess
	addr        string
	incarnation int

	// findings are the failures seen during the run: a sink process that
	// exited on its own, a drain that did not end with status 0.
	findings []string
	// exits counts the sink processes' exit statuses by the way they were
	// stopped.
	exits map[string]int

	peakSinkHeap, peakSinkRSS, peakTestHeap atomic.Uint64
	scrapeErrors                            atomic.Int64
}

// newHarness starts the MongoDB server and the broker, creates the topics
// and stores the subscription's failure policy. The sink process is not
// started yet.
func newHarness(t *testing.T, p params) *harness {
	t.Helper()

	h := &harness{
		t:     t,
		p:     p,
		dir:   t.TempDir(),
		start: time.Now(),
		exits: map[string]int{},
		http:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
	h.deadline = h.start.Add(p.deadline)

	h.sinkPath = buildSinkProgram(t, h.dir, p.raceSink)
	h.mongo = mongotest.StartServer(t, "")

	broker, err := danubetest.New(danubetest.WithWindow(dispatchWindow))
	if err != nil {
		t.Fatalf("start the broker: %v", err)
	}
	h.broker = broker
	t.Cleanup(broker.Close)

	admin, err := danube.NewAdmin(broker.AdminURL())
	if err != nil {
		t.Fatalf("connect to the broker's admin service: %v", err)
	}
	h.admin = admin
	t.Cleanup(func() { _ = admin.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.CreatePartitionedTopic(ctx, soakTopic, soakPartitions, danube.TopicOptions{Reliable: true}); err != nil {
		t.Fatalf("create %s: %v", soakTopic, err)
	}
	if err := admin.CreateTopic(ctx, deadLetterTopic, danube.TopicOptions{Reliable: true}); err != nil {
		t.Fatalf("create %s: %v", deadLetterTopic, err)
	}
	for i := range soakPartitions {
		if err := admin.SetFailurePolicy(ctx, partitionTopic(i), subscription, failurePolicy); err != nil {
			t.Fatalf("store the failure policy of %s: %v", partitionTopic(i), err)
		}
	}
	return h
}

// logf logs a line prefixed with the time since the run started.
func (h *harness) logf(format string, args ...any) {
	h.t.Helper()
	h.t.Logf("%7.1fs  %s", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

// finding records a failure seen during the run; the final check fails
// the test on any.
func (h *harness) finding(format string, args ...any) {
	h.t.Helper()
	msg := fmt.Sprintf(format, args...)
	h.findings = append(h.findings, msg)
	h.logf("FINDING: %s", msg)
}

// remaining returns the time left until the run's deadline, at least
// floor, so that a cleanup step still gets a chance after the deadline.
func (h *harness) remaining(floor time.Duration) time.Duration {
	return max(time.Until(h.deadline), floor)
}

// sinkEnv returns the environment of the sink process: exactly these
// variables, nothing inherited.
func (h *harness) sinkEnv(incarnation int) []string {
	vars := [][2]string{
		{"DANUBE_SERVICE_URL", h.broker.URL()},
		{"DANUBE_ADMIN_URL", h.broker.AdminURL()},
		{"CONNECTOR_NAME", connectorName},
		{"DANUBE_TOPIC", soakTopic},
		{"DEAD_LETTER_TOPIC", deadLetterTopic},
		{"MAX_RETRIES", "3"},
		{"RETRY_BACKOFF_MS", "100"},
		{"MAX_BACKOFF_MS", "1000"},
		{"BATCH_SIZE", "500"},
		{"BATCH_TIMEOUT_MS", "100"},
		{"DRAIN_TIMEOUT_MS", strconv.FormatInt(sinkDrainTimeout.Milliseconds(), 10)},
		{"MAX_REDELIVERIES", strconv.FormatUint(uint64(failurePolicy.MaxRedeliveryCount), 10)},
		{"ACK_TIMEOUT_MS", strconv.FormatInt(failurePolicy.AckTimeout.Milliseconds(), 10)},
		{"POISON_POLICY", "dead_letter"},
		{"DISPATCH_WINDOW", strconv.Itoa(dispatchWindow)},
		{"LOG_LEVEL", "info"},
		{"MONGODB_CONNECTION_STRING", h.mongo.URI()},
		{"MONGODB_DATABASE", databaseName},
		{"MONGODB_COLLECTION", collectionName},
		{"MONGODB_COLLECTION_FIELD", bucketField},
		{"ID_STRATEGY", "deterministic"},
		{"ID_OVERWRITE", "true"},
		{"NON_JSON", "reject"},
		{"MONGODB_TIMEOUT", "5s"},
		{"SOAK_FAILURE_RATE", strconv.FormatFloat(h.p.failureRate, 'f', -1, 64)},
		{"SOAK_SEED", strconv.FormatUint(h.p.seed*1000+uint64(incarnation), 10)},
	}
	env := make([]string, len(vars))
	for i, v := range vars {
		env[i] = v[0] + "=" + v[1]
	}
	return env
}

// startSink starts a new sink process and waits until it is ready: its
// endpoints listen and /readyz returns 200.
func (h *harness) startSink() error {
	h.incarnation++
	proc, err := startSinkProcess(h.sinkPath, h.dir, h.incarnation, h.sinkEnv(h.incarnation), &h.events)
	if err != nil {
		return err
	}
	h.t.Cleanup(proc.kill)

	limit := time.Now().Add(min(sinkStartWithin, h.remaining(10*time.Second)))
	addr, err := proc.awaitListening(limit)
	if err != nil {
		return fmt.Errorf("%w; its log ends with:\n%s", err, proc.logTail(4000))
	}
	h.mu.Lock()
	h.proc, h.addr = proc, addr
	h.mu.Unlock()

	for !readyz(context.Background(), h.http, addr) {
		if !proc.running() {
			return fmt.Errorf("sink process %d exited with status %d before it was ready; its log ends with:\n%s",
				proc.incarnation, proc.exitCode, proc.logTail(4000))
		}
		if time.Now().After(limit) {
			return fmt.Errorf("sink process %d was not ready within %v; its log ends with:\n%s",
				proc.incarnation, sinkStartWithin, proc.logTail(4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// current returns the running sink process.
func (h *harness) current() *sinkProcess {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc
}

// checkSinkAlive records a finding and starts a new sink process if the
// current one exited although the harness sent it no signal to stop.
func (h *harness) checkSinkAlive() error {
	proc := h.current()
	if proc == nil || proc.running() || proc.signalled {
		return nil
	}
	h.exits["on its own"]++
	h.finding("sink process %d exited on its own with status %d; its log ends with:\n%s",
		proc.incarnation, proc.exitCode, proc.logTail(4000))
	return h.startSink()
}

// stopSink stops the current sink process with sig and waits for it to
// exit. After SIGTERM it must drain and exit with status 0.
func (h *harness) stopSink(sig syscall.Signal) error {
	proc := h.current()
	if err := proc.signal(sig); err != nil {
		return fmt.Errorf("signal sink process %d: %w", proc.incarnation, err)
	}
	code, err := proc.awaitExit(min(sinkExitWithin, h.remaining(5*time.Second)))
	if err != nil {
		proc.kill()
		return err
	}
	h.mu.Lock()
	h.addr = ""
	h.mu.Unlock()

	h.exits[fmt.Sprintf("%s, status %d", signalName(sig), code)]++
	if sig == syscall.SIGTERM && code != 0 {
		h.finding("sink process %d exited with status %d after SIGTERM, not 0: its drain did not end cleanly; its log ends with:\n%s",
			proc.incarnation, code, proc.logTail(4000))
	}
	return nil
}

// sample records the peak heap of the test process and of the sink
// process, every interval until ctx ends.
func (h *harness) sample(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		raiseTo(&h.peakTestHeap, ms.HeapAlloc)

		h.mu.Lock()
		addr := h.addr
		h.mu.Unlock()
		if addr != "" {
			if s, err := scrapeMetrics(ctx, h.http, addr); err == nil {
				raiseTo(&h.peakSinkHeap, s.heapAlloc)
				raiseTo(&h.peakSinkRSS, s.rss)
			} else {
				h.scrapeErrors.Add(1)
			}
		}

		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// raiseTo stores v in peak if it is larger.
func raiseTo(peak *atomic.Uint64, v uint64) {
	for {
		old := peak.Load()
		if v <= old || peak.CompareAndSwap(old, v) {
			return
		}
	}
}

// pending returns the number of messages the sink's subscription holds
// unacknowledged, over all partitions.
func (h *harness) pending() int {
	n := 0
	for i := range soakPartitions {
		if st, ok := h.broker.Subscription(partitionTopic(i), subscription); ok {
			n += len(st.Pending)
		}
	}
	return n
}

// awaitBusy waits up to within for the sink to hold unacknowledged
// messages, so that a stop or a panic hits it in the middle of a batch,
// and returns how many it holds, 0 if it stayed idle.
func (h *harness) awaitBusy(within time.Duration) int {
	limit := time.Now().Add(within)
	for {
		if n := h.pending(); n > 0 || time.Now().After(limit) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
