// Package testdata finds the sample documents that end-to-end tests and
// benchmarks read: MongoDB's sample datasets in Extended JSON, one document
// a line, and a large real JSON file. They are not part of the repository.
// The directory is named by DANUBE_CONNECT_DATA, or is ../shared/data next
// to the repository's root.
//
// A test that needs the data skips with a message saying so when it is
// missing, except in strict mode (DANUBE_CONNECT_STRICT=1, set by CI),
// where the missing data is a failure.
package testdata

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvDir names the environment variable that overrides the data directory.
const EnvDir = "DANUBE_CONNECT_DATA"

// EnvStrict names the environment variable that turns skips for a missing
// service or missing data into failures.
const EnvStrict = "DANUBE_CONNECT_STRICT"

// Strict reports whether tests run in strict mode.
func Strict() bool { return os.Getenv(EnvStrict) == "1" }

// Dir returns the data directory, or skips the test (fails it in strict
// mode) when the directory does not exist.
func Dir(t testing.TB) string {
	t.Helper()

	dir, err := Find()
	if err != nil {
		SkipOrFail(t, "%v", err)
	}
	return dir
}

// Find returns the data directory, for code without a testing.TB, or an
// error naming the directory it looked for.
func Find() (string, error) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("sample data directory %s is not available (set %s to its path): %w", dir, EnvDir, err)
	}
	return dir, nil
}

// SkipOrFail skips the test with the formatted reason, or fails it in
// strict mode.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("strict mode: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Lines returns the non-empty lines of the named file in the data
// directory, each a separate copy.
func Lines(t testing.TB, name string) [][]byte {
	t.Helper()

	lines, err := ReadLines(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// ReadLines returns the non-empty lines of the file at path, each a
// separate copy, for code without a testing.TB.
func ReadLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open sample data: %w", err)
	}
	defer f.Close()

	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) > 0 {
			lines = append(lines, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read sample data %s: %w", path, err)
	}
	return lines, nil
}

// File returns the whole content of the named file in the data directory.
func File(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatalf("read sample data: %v", err)
	}
	return b
}

// ExtendedJSONFiles lists the names of the .ejson files in the data
// directory.
func ExtendedJSONFiles(t testing.TB) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(Dir(t), "*.ejson"))
	if err != nil {
		t.Fatalf("list sample data: %v", err)
	}
	if len(matches) == 0 {
		SkipOrFail(t, "no .ejson files in the sample data directory %s", Dir(t))
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = filepath.Base(m)
	}
	return names
}
