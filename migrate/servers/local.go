package servers

import (
	"context"
	"net"
	"net/url"
	"time"
)

// OnThisMachine reports whether the server at rawURL runs on the machine
// atmigrate runs on: its host is loopback, or resolves to an address of
// one of this machine's interfaces. Such a server shares this machine's
// CPUs and disk with the run, so work the run does beside it competes
// with it instead of filling its idle time (transfer.Config.HoldAhead).
// A name that does not resolve within a second counts as elsewhere.
func OnThisMachine(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return false
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return false
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	local := localAddrs()
	for _, ip := range ips {
		if ip.IsLoopback() || local[ip.String()] {
			return true
		}
	}
	return false
}

// localAddrs is the set of this machine's interface addresses.
func localAddrs() map[string]bool {
	out := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out[n.IP.String()] = true
		}
	}
	return out
}
