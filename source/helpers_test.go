package source_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/danube"
	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
	"github.com/danube-messaging/danube-connect-go/source"
)

const testTopic = "/default/records"

// pos returns the checkpoint that resumes after n records: n as 8 bytes.
func pos(n int) source.Checkpoint {
	return binary.BigEndian.AppendUint64(nil, uint64(n))
}

// unpos returns the record count that cp resumes after, 0 for nil.
func unpos(t testing.TB, cp source.Checkpoint) int {
	t.Helper()
	if cp == nil {
		return 0
	}
	if len(cp) != 8 {
		t.Fatalf("checkpoint %x is not 8 bytes", cp)
	}
	return int(binary.BigEndian.Uint64(cp))
}

func payload(i int) string { return fmt.Sprintf("record-%04d", i) }

// makeRecords returns n records whose payloads are numbered from 0 and
// whose positions resume after each.
func makeRecords(n int) []source.Record {
	recs := make([]source.Record, n)
	for i := range recs {
		recs[i] = source.Record{Payload: []byte(payload(i)), Position: pos(i + 1)}
	}
	return recs
}

// logState is an input of fixed records that resumes at the record count
// its checkpoint holds, and records every call made to it.
type logState struct {
	recs  []source.Record
	chunk int  // records per Poll
	tail  bool // at the end, wait for more rather than report io.EOF

	// avail, when positive, is how many records Poll may hand out so far;
	// tests raise it to release more.
	avail int

	mu       sync.Mutex
	cursor   int
	polls    int
	pollErrs []error // returned by the next Polls, one each
	opens    []source.Checkpoint
	closes   int
	commits  []source.Checkpoint
	onCommit func(source.Checkpoint) error // called before a commit is recorded
}

func newLog(recs []source.Record, chunk int) *logState {
	return &logState{recs: recs, chunk: chunk}
}

func (l *logState) Open(_ context.Context, cp source.Checkpoint) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opens = append(l.opens, cp)
	l.cursor = 0
	if cp != nil {
		l.cursor = int(binary.BigEndian.Uint64(cp))
	}
	return nil
}

func (l *logState) Commit(_ context.Context, cp source.Checkpoint) error {
	l.mu.Lock()
	hook := l.onCommit
	l.mu.Unlock()
	if hook != nil {
		if err := hook(cp); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits = append(l.commits, cp)
	return nil
}

func (l *logState) Close(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes++
	return nil
}

func (l *logState) Health(context.Context) error { return nil }

func (l *logState) lastCommit() source.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.commits) == 0 {
		return nil
	}
	return l.commits[len(l.commits)-1]
}

func (l *logState) commitList() []source.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]source.Checkpoint(nil), l.commits...)
}

func (l *logState) release(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.avail = n
}

func (l *logState) openCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.opens)
}

func (l *logState) pollCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.polls
}

// pollLog is the log in poll mode.
type pollLog struct{ *logState }

func (p pollLog) Poll(context.Context) ([]source.Record, error) {
	l := p.logState
	l.mu.Lock()
	defer l.mu.Unlock()
	l.polls++
	if len(l.pollErrs) > 0 {
		err := l.pollErrs[0]
		l.pollErrs = l.pollErrs[1:]
		return nil, err
	}
	limit := len(l.recs)
	if l.avail > 0 {
		limit = min(limit, l.avail)
	}
	if l.cursor >= limit {
		if l.tail || limit < len(l.recs) {
			return nil, nil
		}
		return nil, io.EOF
	}
	end := min(l.cursor+l.chunk, limit)
	out := l.recs[l.cursor:end]
	l.cursor = end
	return out, nil
}

// streamLog is the log in streaming mode.
type streamLog struct{ *logState }

func (s streamLog) Stream(ctx context.Context, emit func(source.Record) error) error {
	l := s.logState
	for {
		l.mu.Lock()
		if l.cursor >= len(l.recs) {
			l.mu.Unlock()
			break
		}
		rec := l.recs[l.cursor]
		l.cursor++
		l.mu.Unlock()
		if err := emit(rec); err != nil {
			return err
		}
	}
	if l.tail {
		<-ctx.Done()
	}
	return nil
}

// newClient returns a client of b, closed when the test ends. Its retries
// wait a millisecond, in real time.
func newClient(t testing.TB, b *danubetest.Broker, opts ...danube.Option) *danube.Client {
	t.Helper()
	opts = append([]danube.Option{danube.WithBackoff(danube.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond})}, opts...)
	c, err := danube.NewClient(b.URL(), opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testOptions returns the options of a runtime publishing to testTopic on
// clk, committing after every record.
func testOptions(clk clock.Clock) source.Options {
	return source.Options{
		Topic:           testTopic,
		ConnectorName:   "test",
		CheckpointEvery: 1,
		Clock:           clk,
		Logger:          slog.New(slog.DiscardHandler),
	}
}

func newRuntime(t testing.TB, client *danube.Client, conn source.Connector, opts source.Options) *source.Runtime {
	t.Helper()
	rt, err := source.New(client, conn, opts)
	if err != nil {
		t.Fatalf("source.New: %v", err)
	}
	return rt
}

// runAsync runs rt in a goroutine and returns the channel of its result.
func runAsync(ctx context.Context, rt *source.Runtime) <-chan error {
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return done
}

// waitRun returns the result of a Run started by runAsync.
func waitRun(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute")
		return nil
	}
}

// eventually waits until cond holds, for at most a minute of real time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// waitForTimer waits until the earliest timer of clk is due at at.
func waitForTimer(t testing.TB, clk *clock.Fake, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		next, ok := clk.NextDeadline()
		if ok && next.Equal(at) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for a timer due at %v; the clock is at %v and its timers are due at %v", at, clk.Now(), clk.Deadlines())
		}
		runtime.Gosched()
	}
}

// payloadCounts returns how many times each payload is stored in topics.
func payloadCounts(b *danubetest.Broker, topics ...string) map[string]int {
	counts := make(map[string]int)
	for _, topic := range topics {
		for _, m := range b.Messages(topic) {
			counts[string(m.Payload)]++
		}
	}
	return counts
}

// checkAllOnce fails the test unless topics hold each of the first n
// payloads exactly once, and nothing else.
func checkAllOnce(t testing.TB, b *danubetest.Broker, n int, topics ...string) {
	t.Helper()
	counts := payloadCounts(b, topics...)
	for i := range n {
		if c := counts[payload(i)]; c != 1 {
			t.Errorf("%s stored %d times, want once", payload(i), c)
		}
	}
	if len(counts) != n {
		t.Errorf("%d distinct payloads stored, want %d", len(counts), n)
	}
}

// driveClock moves clk to its next deadline whenever a timer waits, so
// that time passes as fast as the code under test waits for it, until the
// returned function is called.
func driveClock(clk *clock.Fake) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for clk.BlockUntil(ctx, 1) == nil {
			if at, ok := clk.NextDeadline(); ok {
				clk.Advance(max(at.Sub(clk.Now()), 0))
			}
			runtime.Gosched()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// checkAtLeastOnce fails the test unless topics hold each of the first n
// payloads at least once, and nothing else, and returns the number of
// duplicates.
func checkAtLeastOnce(t testing.TB, b *danubetest.Broker, n int, topics ...string) int {
	t.Helper()
	counts := payloadCounts(b, topics...)
	duplicates := 0
	for i := range n {
		c := counts[payload(i)]
		if c == 0 {
			t.Errorf("%s never stored", payload(i))
		}
		duplicates += max(c-1, 0)
	}
	if len(counts) != n {
		t.Errorf("%d distinct payloads stored, want %d", len(counts), n)
	}
	return duplicates
}
