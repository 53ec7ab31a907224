package servers

import (
	"net"
	"testing"
)

func TestOnThisMachine(t *testing.T) {
	cases := map[string]bool{
		"http://127.0.0.1:2583":  true,
		"http://[::1]:2583":      true,
		"http://localhost:2583":  true,
		"https://192.0.2.7":      false, // TEST-NET-1: never an address of this machine
		"https://[2001:db8::1]/": false,
		"not a url\x7f":          false,
		"":                       false,
	}
	// One of this machine's own non-loopback addresses, if it has one.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				cases["http://"+n.IP.String()+":3000"] = true
				break
			}
		}
	}
	for u, want := range cases {
		if got := OnThisMachine(u); got != want {
			t.Errorf("OnThisMachine(%q) = %v, want %v", u, got, want)
		}
	}
}
