package source

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, for the internal and the external tests of this
// directory alike, that no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
