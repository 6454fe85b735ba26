package soak

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"
)

// faultKind is a fault that the harness injects at a moment of its
// schedule. The transient write failures and the poison records are not
// among them: they come all along, from the sink process and the dataset.
type faultKind int

const (
	// faultPanic makes a Write of the sink process write half of its
	// batch and panic (SIGUSR1 to the process).
	faultPanic faultKind = iota
	// faultDropStreams ends every receive stream of the broker with
	// UNAVAILABLE, as a network failure would.
	faultDropStreams
	// faultUnload unloads a partition of the topic. On a single broker
	// only the broker's own UnloadTopic does that (the admin call needs a
	// second broker to move the topic to): the partition's producers and
	// consumers are forgotten, their streams end and their health checks
	// return CLOSE, so the clients create them anew.
	faultUnload
	// faultMongoRestart stops the MongoDB server and starts it again on
	// the same data and port.
	faultMongoRestart
	// faultSigterm sends SIGTERM to the sink process while it holds
	// unacknowledged messages, expects a drain and exit status 0, and
	// starts a new process.
	faultSigterm
	// faultSigkill kills the sink process with SIGKILL while it holds
	// unacknowledged messages and starts a new process.
	faultSigkill

	faultKinds = iota
)

func (k faultKind) String() string {
	switch k {
	case faultPanic:
		return "stage panic"
	case faultDropStreams:
		return "receive streams dropped"
	case faultUnload:
		return "topic unloaded (CLOSE)"
	case faultMongoRestart:
		return "MongoDB stopped and restarted"
	case faultSigterm:
		return "sink SIGTERM and restart"
	case faultSigkill:
		return "sink SIGKILL and restart"
	}
	return fmt.Sprintf("faultKind(%d)", int(k))
}

// fault is one entry of the schedule.
type fault struct {
	kind faultKind
	// after is the wait before the fault, from the end of the previous
	// one.
	after time.Duration
	// downtime is how long a stopped server or process stays down.
	downtime time.Duration
	// partition is the partition a faultUnload unloads.
	partition int
}

// schedule draws n faults with rng: every kind once, the rest at random,
// in random order, gapMin to gapMax apart.
func schedule(rng *rand.Rand, n int, gapMin, gapMax time.Duration) []fault {
	kinds := make([]faultKind, 0, max(n, faultKinds))
	for k := range faultKinds {
		kinds = append(kinds, faultKind(k))
	}
	for len(kinds) < n {
		kinds = append(kinds, faultKind(rng.IntN(faultKinds)))
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	out := make([]fault, len(kinds))
	for i, k := range kinds {
		out[i] = fault{
			kind:      k,
			after:     gapMin + time.Duration(rng.Int64N(int64(gapMax-gapMin)+1)),
			downtime:  time.Duration(200+rng.IntN(1800)) * time.Millisecond,
			partition: rng.IntN(soakPartitions),
		}
	}
	return out
}

// faultAllowance is the time a fault is expected to take, on average,
// beyond the wait before it: the wait for a busy sink, a restart. About a
// second on a shared 2-core machine, with the test under the race
// detector.
const faultAllowance = 1200 * time.Millisecond

// publishSpread returns the time over which the source spreads the
// dataset: a little longer than the schedule is expected to take, so that
// every fault hits a sink at work, and the panic armed by the last one
// still finds a batch to write.
func publishSpread(faults []fault) time.Duration {
	var d time.Duration
	for _, f := range faults {
		d += f.after + faultAllowance
	}
	return d + d/10
}

// panicWait bounds the wait for an armed panic to fire: the sink writes a
// batch every few hundred milliseconds, but a slow database under load can
// hold one Write for seconds.
const panicWait = 15 * time.Second

// busyWait bounds the wait for the sink to hold unacknowledged messages
// before a fault that should hit it mid-batch.
const busyWait = 3 * time.Second

// inject carries out f and returns a description of what it did, or an
// error when the run cannot go on.
func (h *harness) inject(f fault) (string, error) {
	switch f.kind {
	case faultPanic:
		unacked := h.awaitBusy(busyWait)
		proc := h.current()
		before := h.events.snapshot()["panic"]
		if err := proc.signal(syscall.SIGUSR1); err != nil {
			return "", fmt.Errorf("signal sink process %d: %w", proc.incarnation, err)
		}
		fired := "it fired"
		limit := time.Now().Add(panicWait)
		for h.events.snapshot()["panic"] == before {
			if time.Now().After(limit) || !proc.running() {
				fired = fmt.Sprintf("it had not fired after %v: the sink wrote no batch", panicWait)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return fmt.Sprintf("armed a panic in sink process %d (%d messages unacknowledged); %s", proc.incarnation, unacked, fired), nil

	case faultDropStreams:
		h.broker.DropReceiveStreams()
		return "dropped every receive stream", nil

	case faultUnload:
		topic := partitionTopic(f.partition)
		if err := h.broker.UnloadTopic(topic); err != nil {
			return "", fmt.Errorf("unload %s: %w", topic, err)
		}
		return "unloaded " + topic, nil

	case faultMongoRestart:
		// NOTE: Server.Stop waits for the server to exit without a
		// deadline. It closes the server's standard input, on which the
		// server exits, and has not been seen to hang.
		if err := h.mongo.Stop(); err != nil {
			h.logf("MongoDB server stop: %v", err)
		}
		time.Sleep(f.downtime)
		if err := h.mongo.Restart(); err != nil {
			return "", fmt.Errorf("restart the MongoDB server: %w", err)
		}
		return fmt.Sprintf("MongoDB down for %v", f.downtime), nil

	case faultSigterm, faultSigkill:
		sig := syscall.SIGTERM
		if f.kind == faultSigkill {
			sig = syscall.SIGKILL
		}
		unacked := h.awaitBusy(busyWait)
		proc := h.current()
		stopped := time.Now()
		if err := h.stopSink(sig); err != nil {
			return "", err
		}
		stopTook := time.Since(stopped)
		time.Sleep(f.downtime)
		if err := h.startSink(); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s to sink process %d (%d messages unacknowledged), exited after %v with status %d, sink process %d ready",
			signalName(sig), proc.incarnation, unacked, stopTook.Round(time.Millisecond), proc.exitCode, h.incarnation), nil
	}
	return "", fmt.Errorf("unknown fault %v", f.kind)
}

// signalName returns the conventional name of sig.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	}
	return sig.String()
}

// runFaults injects the schedule, stopping early when the run's deadline
// passes. It returns how many faults of each kind it injected.
func (h *harness) runFaults(faults []fault) (map[faultKind]int, error) {
	done := map[faultKind]int{}
	for i, f := range faults {
		wait := time.Until(h.deadline)
		if wait <= f.after {
			return done, fmt.Errorf("the run's deadline passed before fault %d of %d", i+1, len(faults))
		}
		time.Sleep(f.after)
		if err := h.checkSinkAlive(); err != nil {
			return done, err
		}
		what, err := h.inject(f)
		if err != nil {
			return done, fmt.Errorf("fault %d of %d (%v): %w", i+1, len(faults), f.kind, err)
		}
		done[f.kind]++
		h.logf("fault %d/%d, %v: %s", i+1, len(faults), f.kind, what)
	}
	return done, nil
}
