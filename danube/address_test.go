package danube

import "testing"

func TestBrokerAddressStripsScheme(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:6650":          "127.0.0.1:6650",
		"http://127.0.0.1:6650":   "127.0.0.1:6650",
		"https://broker.x:6650":   "broker.x:6650",
		"HTTP://broker:1":         "broker:1",
		" http://broker:6650/ ":   "broker:6650",
		"http://[::1]:6650":       "[::1]:6650",
		"https://localhost:50051": "localhost:50051",
	}
	for in, want := range tests {
		got, err := brokerAddress(in)
		if err != nil || got != want {
			t.Errorf("brokerAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestBrokerAddressRejectsInvalid(t *testing.T) {
	for _, in := range []string{
		"",
		"http://",
		"broker",
		"grpc://broker:6650",
		"http://broker:6650/path",
		":6650",
		"broker:",
	} {
		if got, err := brokerAddress(in); err == nil {
			t.Errorf("brokerAddress(%q) = %q, want an error", in, got)
		}
	}
}
