package sink

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestStopAndForceTogetherKeepRecords stops and forces the runtime at the
// same moment, as two signals arriving together do, while writes are held.
// The broker sends a nacked record back at once (no redelivery delay), so
// a runtime that kept receiving while forced would nack the same records
// over and over, using up their redeliveries until the poison policy
// dropped them. Each record may be nacked at most twice (once by the
// forced writer, once more if the broker sent it back before the
// consumer closed), and all must still be at the broker.
func TestStopAndForceTogetherKeepRecords(t *testing.T) {
	for i := range 24 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newEnv(t)
			e.subscribe(testTopic, testSub, 3)
			conn := newTestConn()
			release := make(chan struct{})
			conn.write = func(int, []*Record) error {
				<-release
				return context.Canceled
			}
			cfg := e.config(testTopic, testSub)
			cfg.DrainTimeout = time.Hour
			r := start(t, conn, cfg, Options{})
			e.waitConsumer(testTopic, testSub)
			e.publish(testTopic, "m", 3)
			r.waitInFlight(t, 3)

			// Health probes keep running meanwhile, as an orchestrator's
			// do; they also vary the order in which the stop goes.
			probing := make(chan struct{})
			var probes sync.WaitGroup
			for range 4 {
				probes.Add(1)
				go func() {
					defer probes.Done()
					for {
						select {
						case <-probing:
							return
						default:
						}
						_ = r.rt.Ready(context.Background())
						_ = r.rt.Live(context.Background())
					}
				}()
			}
			go r.rt.Force()
			go r.cancel()
			go close(release)
			_ = r.wait(t)
			close(probing)
			probes.Wait()

			st := r.rt.Stats()[0]
			if st.Acked != 0 {
				t.Errorf("%d acked, want none: nothing was written", st.Acked)
			}
			if st.Nacked < 3 || st.Nacked > 6 {
				t.Errorf("%d nacks, want 3 to 6: each record nacked once, or twice when it came back before the consumer closed", st.Nacked)
			}
			if pending := e.pending(testTopic, testSub); len(pending) != 3 {
				t.Errorf("%d records pending at the broker, want 3: %+v", len(pending), pending)
			}
		})
	}
}
