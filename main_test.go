package connect_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/danube-messaging/danube-connect-go/internal/mongotest"
)

// mongoURI is the connection string of the MongoDB server that the
// examples write to: MONGODB_URI when it is set, otherwise the embedded
// FerretDB server that TestMain starts.
var mongoURI string

// TestMain starts the MongoDB server before the examples run, because an
// Example has no testing.T to start one with, and checks that no example
// or test leaves a goroutine behind.
func TestMain(m *testing.M) {
	uri, err := mongotest.SharedURI()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the MongoDB server of the examples: %v\n", err)
		os.Exit(1)
	}
	mongoURI = uri

	goleak.VerifyTestMain(m)
}
