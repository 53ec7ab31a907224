package network

import (
	"context"
	"fmt"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/units"
)

// HostState is what a relay says of a PDS host before a batch moves
// accounts to it.
type HostState string

const (
	// HostReady: the relay follows the host and its account count plus
	// the accounts to come stay within the limit.
	HostReady HostState = "ready"
	// HostNew: the relay has never seen the host (HostNotFound); a
	// requestCrawl makes it follow it, with a fresh account limit.
	HostNew HostState = "new"
	// HostOverLimit: the accounts to come would take the host past the
	// account limit.
	HostOverLimit HostState = "over-limit"
	// HostThrottled: the relay has throttled the host.
	HostThrottled HostState = "throttled"
	// HostBanned: the relay has banned the host.
	HostBanned HostState = "banned"
	// HostOffline: the relay knows the host but has stopped following
	// it (status offline or idle); a requestCrawl reconnects it.
	HostOffline HostState = "offline"
	// HostUnknown: the relay could not be read.
	HostUnknown HostState = "unknown"
)

// HostView is what one relay says of the host a batch moves accounts to.
type HostView struct {
	// Relay is the relay's URL as given; Host the PDS's hostname.
	Relay string `json:"relay"`
	Host  string `json:"host"`
	// State is the verdict.
	State HostState `json:"state"`
	// Status and AccountCount are the relay's getHostStatus answer.
	Status       string `json:"status,omitempty"`
	AccountCount int64  `json:"accountCount"`
	// Coming is how many accounts the batch moves; Limit the account
	// limit assumed.
	Coming int   `json:"coming"`
	Limit  int64 `json:"limit"`
	// Error is why the relay could not be read.
	Error string `json:"error,omitempty"`
}

// CheckHost reads what the relay at relayURL says of host before coming
// accounts move there, assuming the relay's account limit for the host is
// limit (0 or less: DefaultAccountLimit; relays do not publish it). It
// never returns an error: a relay it cannot read is HostUnknown.
func CheckHost(ctx context.Context, relayURL, host string, coming int, limit int64, o Options) HostView {
	if limit <= 0 {
		limit = DefaultAccountLimit
	}
	v := HostView{Relay: relayURL, Host: host, Coming: coming, Limit: limit}
	cl := o.caller(relayURL)
	defer cl.close()
	var hs *pds.HostStatus
	err := cl.call(ctx, func(ctx context.Context, c *pds.Client) (err error) {
		hs, err = c.GetHostStatus(ctx, host)
		return err
	})
	switch {
	case pds.IsHostNotFound(err):
		v.State = HostNew
		return v
	case err != nil:
		v.State, v.Error = HostUnknown, describe(err)
		return v
	case hs.Status == "":
		v.State, v.Error = HostUnknown, "getHostStatus answered without a status"
		return v
	}
	v.Status, v.AccountCount = hs.Status, hs.AccountCount
	switch {
	case hs.Status == "banned":
		v.State = HostBanned
	case hs.Status == "throttled":
		v.State = HostThrottled
	case v.over() > 0:
		v.State = HostOverLimit
	case hs.Status == "offline" || hs.Status == "idle":
		v.State = HostOffline
	default:
		v.State = HostReady
	}
	return v
}

// over is how many of the coming accounts would pass the limit.
func (v HostView) over() int64 {
	return max(0, v.AccountCount+int64(v.Coming)-v.Limit)
}

// OK reports whether the batch can go ahead without a word to the
// relay's operator: the host is ready, or new with no more accounts
// coming than the limit.
func (v HostView) OK() bool {
	return v.State == HostReady || (v.State == HostNew && v.over() == 0)
}

// Line is the view in one line for a human.
func (v HostView) Line() string {
	p := fmt.Sprintf("relay %s: host %s ", v.Relay, v.Host)
	switch v.State {
	case HostReady:
		return p + fmt.Sprintf("%s with %s; %d more stay within the limit of %d", v.Status, units.Count(v.AccountCount, "account"), v.Coming, v.Limit)
	case HostNew:
		s := p + "never seen by the relay; a crawl request makes it follow the host"
		if n := v.over(); n > 0 {
			s += fmt.Sprintf("; %d of the %d accounts would pass the limit of %d", n, v.Coming, v.Limit)
		}
		return s
	case HostOverLimit:
		return p + fmt.Sprintf("%s with %s; %d more would pass the limit of %d by %d", v.Status, units.Count(v.AccountCount, "account"), v.Coming, v.Limit, v.over())
	case HostThrottled:
		return p + fmt.Sprintf("throttled, with %s", units.Count(v.AccountCount, "account"))
	case HostBanned:
		return p + "banned"
	case HostOffline:
		return p + fmt.Sprintf("%s: the relay has stopped following it (%d accounts)", v.Status, v.AccountCount)
	}
	s := p + "not known"
	if v.Error != "" {
		s += " (" + v.Error + ")"
	}
	return s
}

// Warning says what the state means for the batch and what to do; ""
// when OK.
func (v HostView) Warning() string {
	if v.OK() {
		return ""
	}
	r := "Relay " + v.Relay
	limitNote := fmt.Sprintf("The limit assumed is %d (the reference relay's default for a host; relays do not publish it).", v.Limit)
	switch v.State {
	case HostNew, HostOverLimit:
		return fmt.Sprintf("%s would take %d of the %d accounts moving to %s as throttled: a relay creates an account it has never seen throttled once the host has as many accounts as its limit, and passes nothing of it on. Accounts the relay already knew from their old PDS move over without that check. Ask the relay's operator to raise %s's account limit before the batch. %s",
			r, v.over(), v.Coming, v.Host, v.Host, limitNote)
	case HostThrottled:
		return fmt.Sprintf("%s has throttled host %s: accounts moved there reach apps late or not at all. Ask the relay's operator to lift the throttle before the batch.", r, v.Host)
	case HostBanned:
		return fmt.Sprintf("%s has banned host %s: no account moved there will be seen through this relay. Ask the relay's operator about the ban, or choose another PDS.", r, v.Host)
	case HostOffline:
		return fmt.Sprintf("%s knows %s but has stopped following it (%s): moved accounts will not show until it reconnects. A crawl request reconnects it; check that the PDS is reachable at https://%s.", r, v.Host, v.Status, v.Host)
	}
	msg := r + " could not be read"
	if v.Error != "" {
		msg += " (" + v.Error + ")"
	}
	return msg + ": nothing is known of its limits for " + v.Host + ". Check the relay's URL, or run the preflight again later."
}
