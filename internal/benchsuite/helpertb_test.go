package main

import (
	"strings"
	"testing"
)

func TestCallHelperReturnsFatalAsError(t *testing.T) {
	ran := false
	cleanup, err := callHelper("h", func(tb testing.TB) {
		tb.Helper()
		tb.Cleanup(func() { ran = true })
		tb.Fatalf("no server on port %d", 1)
		t.Error("the helper went on after Fatalf")
	})
	if err == nil || err.Error() != "no server on port 1" {
		t.Errorf("err = %v, want the Fatalf message", err)
	}
	cleanup()
	if !ran {
		t.Error("cleanup did not run the registered function")
	}
}

func TestCallHelperReturnsSkipAsError(t *testing.T) {
	_, err := callHelper("h", func(tb testing.TB) { tb.Skipf("data %s missing", "dir") })
	if err == nil || err.Error() != "data dir missing" {
		t.Errorf("err = %v, want the Skipf message", err)
	}
}

func TestCallHelperReportsUnsupportedMethod(t *testing.T) {
	_, err := callHelper("h", func(tb testing.TB) { tb.TempDir() })
	if err == nil || !strings.Contains(err.Error(), "outside a test") {
		t.Errorf("err = %v, want an error for the unsupported method", err)
	}
}

func TestCallHelperPassesResult(t *testing.T) {
	var got string
	_, err := callHelper("h", func(tb testing.TB) { got = tb.Name() })
	if err != nil || got != "h" {
		t.Errorf("got %q, %v; want the helper's name and no error", got, err)
	}
}
