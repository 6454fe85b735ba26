package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// describeMachine returns what the report says of the machine: CPUs, the
// CPU model, the Go version and the load average now. The date, mode and
// MongoDB server are filled in by the run.
func describeMachine() Machine {
	return Machine{
		CPUs:       runtime.NumCPU(),
		CPUModel:   cpuModel(),
		GoVersion:  runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadBefore: loadAverage(),
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown
// CPU" where there is none (not Linux, or an architecture that does not
// name its model there).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

// loadAverage returns the 1, 5 and 15 minute load averages of
// /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], ", ")
}
