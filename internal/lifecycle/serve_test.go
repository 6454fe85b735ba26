package lifecycle

import "testing"

func TestServeListensOnMetricsHostAndPort(t *testing.T) {
	for _, tt := range []struct {
		o    ServeOptions
		want string
	}{
		{ServeOptions{}, ":9090"},
		{ServeOptions{MetricsPort: 9191}, ":9191"},
		{ServeOptions{MetricsHost: "127.0.0.1", MetricsPort: 9191}, "127.0.0.1:9191"},
		{ServeOptions{MetricsHost: "::1"}, "[::1]:9090"},
		{ServeOptions{Addr: "127.0.0.1:0", MetricsHost: "10.0.0.1", MetricsPort: 9191}, "127.0.0.1:0"},
	} {
		got, err := tt.o.listenAddr()
		if err != nil || got != tt.want {
			t.Errorf("listenAddr(host %q, port %d, addr %q) = %q, %v; want %q", tt.o.MetricsHost, tt.o.MetricsPort, tt.o.Addr, got, err, tt.want)
		}
	}
}
