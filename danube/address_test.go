package danube

import (
	"strings"
	"testing"
)

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
		"http://user@broker:6650",
	} {
		if got, err := brokerAddress(in); err == nil {
			t.Errorf("brokerAddress(%q) = %q, want an error", in, got)
		}
	}
}

func TestBrokerAddressKeepsCredentialsOutOfErrors(t *testing.T) {
	for _, in := range []string{
		"http://alice:s3cret-pw@broker:6650",
		"alice:s3cret-pw@broker:6650",
		"https://alice:s3cret-pw@broker:6650/path",
		"grpc://alice:s3cret-pw@broker:6650",
		"http://alice:s3cret-pw@",
	} {
		_, err := brokerAddress(in)
		if err == nil {
			t.Errorf("brokerAddress(%q) succeeded, want an error", in)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "alice") {
			t.Errorf("brokerAddress(%q) error quotes the credentials: %v", in, err)
		}
		if !strings.Contains(err.Error(), "REDACTED") {
			t.Errorf("brokerAddress(%q) error = %v, want the URL quoted with REDACTED user information", in, err)
		}
	}
}
