package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The memory section starts the running executable, here the test
	// binary, as the stalled sink.
	if spec, ok := os.LookupEnv(envStalledSink); ok {
		os.Exit(runStalledSink(spec))
	}
	goleak.VerifyTestMain(m)
}
