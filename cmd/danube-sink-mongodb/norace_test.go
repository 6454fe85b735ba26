//go:build !race

package main

// raceEnabled reports whether the tests run under the race detector, so
// that the binary they start is built with it too.
const raceEnabled = false
