package source_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// BenchmarkPublish publishes b.N records from a poll-mode connector to an
// in-process broker and reports records per second. The broker shares the
// machine, so the figure is an upper bound for a remote broker's
// throughput only as far as the network is not the limit.
func BenchmarkPublish(b *testing.B) {
	for _, inFlight := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("in-flight=%d", inFlight), func(b *testing.B) {
			broker := danubetest.Start(b)
			client := newClient(b, broker)
			log := newLog(makeRecords(b.N), 1000)
			opts := testOptions(clock.Real())
			opts.MaxInFlight = inFlight
			opts.CheckpointEvery = 10_000
			rt := newRuntime(b, client, pollLog{log}, opts)

			b.ReportAllocs()
			b.ResetTimer()
			if err := rt.Run(context.Background()); err != nil {
				b.Fatalf("Run = %v", err)
			}
			b.StopTimer()
			if got := rt.Stats().Published; got != uint64(b.N) {
				b.Fatalf("%d records published, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
