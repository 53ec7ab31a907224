package timeline

import (
	"fmt"
	"net/url"
	"strings"
)

// Role names of the lanes.
const (
	RoleOldPDS  = "old PDS"
	RoleNewPDS  = "new PDS"
	RolePLC     = "PLC directory"
	RoleAppView = "AppView"
	RoleOther   = "other"
)

// Roles tells the servers of a run apart by URL; only their roles reach a
// Timeline. Relays are "relay" (or "relay 1", "relay 2"… when several).
type Roles struct {
	OldPDS, NewPDS, PLC string
	Relays              []string
	AppView             string
	// Versions are what is known of each role's server ("new PDS" →
	// "@atproto/pds 0.4.217"), shown beside the lane's name.
	Versions map[string]string
}

// key is a URL's scheme and host, lowercased, without a default port.
func key(u string) string {
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || p.Host == "" {
		return ""
	}
	h := strings.ToLower(p.Host)
	switch {
	case p.Scheme == "https" && strings.HasSuffix(h, ":443"):
		h = strings.TrimSuffix(h, ":443")
	case p.Scheme == "http" && strings.HasSuffix(h, ":80"):
		h = strings.TrimSuffix(h, ":80")
	}
	return strings.ToLower(p.Scheme) + "://" + h
}

// Of is the role of the server at host (scheme://host), RoleOther when it
// is none of the run's. When two roles share a server, the new PDS wins
// over the old, and both over the rest.
func (r Roles) Of(host string) string {
	k := key(host)
	if k == "" {
		return RoleOther
	}
	switch k {
	case key(r.NewPDS):
		return RoleNewPDS
	case key(r.OldPDS):
		return RoleOldPDS
	case key(r.PLC):
		return RolePLC
	}
	for i, rel := range r.Relays {
		if k == key(rel) {
			return r.relayName(i)
		}
	}
	if r.AppView != "" && k == key(r.AppView) {
		return RoleAppView
	}
	return RoleOther
}

func (r Roles) relayName(i int) string {
	if len(r.Relays) == 1 {
		return "relay"
	}
	return fmt.Sprintf("relay %d", i+1)
}

// Parties are the lanes in drawing order: old PDS, new PDS, PLC
// directory, the relays, the AppView, other.
func (r Roles) Parties() []Party {
	names := []string{RoleOldPDS, RoleNewPDS, RolePLC}
	for i := range r.Relays {
		names = append(names, r.relayName(i))
	}
	names = append(names, RoleAppView, RoleOther)
	ps := make([]Party, len(names))
	for i, n := range names {
		ps[i] = Party{Role: n, Version: r.Versions[n]}
	}
	return ps
}
