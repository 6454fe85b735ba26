package supervisor

import (
	"testing"
	"time"

	"github.com/danube-messaging/danube-connect-go/internal/clock"
)

// failAndMeasure makes the current instance of c fail and returns the
// restart delay the supervisor then waits on the fake clock, after which
// it lets the restart happen and returns the new instance.
func failAndMeasure(t *testing.T, clk *clock.Fake, c *scripted, in *instance) (time.Duration, *instance) {
	t.Helper()
	in.fail(t, errBoom)
	blockUntilWaiting(t, clk, 1)
	d := nextDelay(t, clk)
	c.idle(t)
	clk.Advance(d)
	return d, c.next(t)
}

func TestBackoffGrowsToCap(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := newRecorder()
	s := New("root", WithClock(clk), WithHook(rec.hook), WithIntensity(100, time.Hour),
		WithBackoff(Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: -1}))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	in := c.next(t)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		var got time.Duration
		got, in = failAndMeasure(t, clk, c, in)
		if got != w*time.Millisecond {
			t.Errorf("delay %d = %v, want %v", i+1, got, w*time.Millisecond)
		}
		ev := rec.waitFor(t, EventChildRestarting, "root/c").(ChildRestarting)
		if ev.Delay != got || ev.Attempt != i+1 {
			t.Errorf("ChildRestarting = {Delay %v, Attempt %d}, want {%v, %d}", ev.Delay, ev.Attempt, got, i+1)
		}
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestBackoffResetsAfterHealthyRun(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	s := New("root", WithClock(clk),
		WithBackoff(Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: -1, ResetAfter: 30 * time.Second}))
	c := newScripted("c")
	mustAdd(t, s, Spec{Name: "c", Child: c})
	r := runInBackground(t, s)

	steps := []struct {
		ran  time.Duration // how long the instance runs before it fails
		want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{0, 200 * time.Millisecond},
		{29 * time.Second, 400 * time.Millisecond}, // too short to count as healthy
		{30 * time.Second, 100 * time.Millisecond}, // healthy: back to Initial
		{0, 200 * time.Millisecond},
	}
	in := c.next(t)
	for i, st := range steps {
		clk.Advance(st.ran)
		var got time.Duration
		got, in = failAndMeasure(t, clk, c, in)
		if got != st.want {
			t.Errorf("step %d: delay after running %v = %v, want %v", i, st.ran, got, st.want)
		}
	}
	if err := r.stop(t); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestBackoffJitterStaysInBounds(t *testing.T) {
	cfg := Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.5}.withDefaults()
	const sequences, attempts = 2000, 6
	lowest := make([]time.Duration, attempts)
	highest := make([]time.Duration, attempts)
	for i := range lowest {
		lowest[i] = time.Duration(1 << 62)
	}

	for range sequences {
		d := newRetryDelays(cfg, clock.NewFake(time.Time{}))
		for n := range attempts {
			got := d.next()
			interval := min(cfg.Initial<<n, cfg.Max)
			lo := time.Duration(float64(interval) * (1 - cfg.Jitter))
			hi := min(time.Duration(float64(interval)*(1+cfg.Jitter)), cfg.Max)
			if got < lo || got > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n+1, got, lo, hi)
			}
			lowest[n] = min(lowest[n], got)
			highest[n] = max(highest[n], got)
		}
	}

	// Uniform draws over 2000 sequences reach both ends of the range; a
	// missing spread would mean the jitter is not applied.
	first := cfg.Initial
	if lowest[0] > first*6/10 || highest[0] < first*14/10 {
		t.Errorf("first delays span [%v, %v], want about [500ms, 1.5s]", lowest[0], highest[0])
	}
	if highest[attempts-1] != cfg.Max {
		t.Errorf("largest delay at the cap = %v, want exactly Max %v", highest[attempts-1], cfg.Max)
	}
}

func TestBackoffDefaultsFillZeroFields(t *testing.T) {
	got := Backoff{}.withDefaults()
	want := Backoff{
		Initial:    DefaultBackoffInitial,
		Max:        DefaultBackoffMax,
		Multiplier: DefaultBackoffMultiplier,
		Jitter:     DefaultBackoffJitter,
		ResetAfter: DefaultBackoffResetAfter,
	}
	if got != want {
		t.Errorf("Backoff{}.withDefaults() = %+v, want %+v", got, want)
	}
}

func TestNegativeInitialRestartsAtOnce(t *testing.T) {
	d := newRetryDelays(Backoff{Initial: -1}.withDefaults(), clock.NewFake(time.Time{}))
	for n := range 5 {
		if got := d.next(); got != 0 {
			t.Errorf("attempt %d: delay %v, want 0", n+1, got)
		}
	}
}
