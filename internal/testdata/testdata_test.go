package testdata

import (
	"encoding/json"
	"testing"
)

func TestLinesAreOneJSONDocumentEach(t *testing.T) {
	for _, name := range ExtendedJSONFiles(t) {
		lines := Lines(t, name)
		if len(lines) == 0 {
			t.Errorf("%s has no lines", name)
		}
		for i, line := range lines {
			if !json.Valid(line) {
				t.Errorf("%s line %d is not JSON", name, i+1)
				break
			}
		}
	}
}
