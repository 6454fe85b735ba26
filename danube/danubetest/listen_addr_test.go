package danubetest_test

import (
	"net"
	"strings"
	"testing"

	"github.com/danube-messaging/danube-connect-go/danube/danubetest"
)

// freeAddr returns an address of 127.0.0.1 that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWithAddrListensOnGivenAddresses(t *testing.T) {
	client, admin := freeAddr(t), freeAddr(t)
	b := danubetest.Start(t, danubetest.WithAddr(client), danubetest.WithAdminAddr(admin))

	if b.Addr() != client {
		t.Errorf("Addr() = %q, want %q", b.Addr(), client)
	}
	if b.URL() != "http://"+client {
		t.Errorf("URL() = %q, want %q", b.URL(), "http://"+client)
	}
	if b.AdminAddr() != admin {
		t.Errorf("AdminAddr() = %q, want %q", b.AdminAddr(), admin)
	}
	c, _ := clients(t, b)
	c.createProducer(t, "/default/listen", "p1", true)
}

func TestWithAddrKeepsAddressAcrossRestart(t *testing.T) {
	client := freeAddr(t)
	b := danubetest.Start(t, danubetest.WithAddr(client))
	b.Stop()
	if err := b.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if b.Addr() != client {
		t.Errorf("Addr() after Restart = %q, want %q", b.Addr(), client)
	}
}

func TestWithAddrFailsOnTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	_, err = danubetest.New(danubetest.WithAddr(l.Addr().String()))
	if err == nil {
		t.Fatal("New on a taken port succeeded, want an error")
	}
	if !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("error %q does not name the address %s", err, l.Addr())
	}
}

func TestWithAddrRejectsInvalidAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", ":6650", "0.0.0.0:6650", "[::]:6650", "[::%lo]:0", "[0::0%1]:0"} {
		if b, err := danubetest.New(danubetest.WithAddr(addr)); err == nil {
			b.Close()
			t.Errorf("WithAddr(%q): New succeeded, want an error", addr)
		}
		if b, err := danubetest.New(danubetest.WithAdminAddr(addr)); err == nil {
			b.Close()
			t.Errorf("WithAdminAddr(%q): New succeeded, want an error", addr)
		}
	}
}

func TestNewClusterRejectsFixedAddress(t *testing.T) {
	brokers, err := danubetest.NewCluster(2, danubetest.WithAddr(freeAddr(t)))
	if err == nil {
		for _, b := range brokers {
			b.Close()
		}
		t.Fatal("NewCluster(2) with WithAddr succeeded, want an error")
	}
}
