package network

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/retry"
	"github.com/atmigrate/atmigrate/internal/units"
)

// RelayState is what a relay shows of a moved account.
type RelayState string

const (
	// RelayInSync: the account is active at the new PDS's rev or later,
	// and the relay knows the new host.
	RelayInSync RelayState = "in-sync"
	// RelayBehind: active, but at an older rev (or none): the relay has
	// not taken the new PDS's latest commit.
	RelayBehind RelayState = "behind"
	// RelayInactive: active false, with status deactivated, deleted,
	// desynchronized or none: typically the old PDS's deactivation
	// arrived and the new PDS's activation did not.
	RelayInactive RelayState = "inactive"
	// RelayThrottled: the relay holds the account as throttled (status
	// "throttled": its host was at its account limit when the account
	// first appeared), or it is behind while its host is throttled.
	RelayThrottled RelayState = "throttled"
	// RelayHostBanned: the relay has banned the new host (host status
	// banned, or requestCrawl refused with DomainBan).
	RelayHostBanned RelayState = "host-banned"
	// RelayTakendown: the relay has taken the account down (status
	// takendown or suspended).
	RelayTakendown RelayState = "takendown"
	// RelayNotFollowing: the relay does not know the account
	// (RepoNotFound) or does not know the new host (HostNotFound).
	RelayNotFollowing RelayState = "not-following"
	// RelayUnknown: the relay could not be read (unreachable, 5xx, a
	// timeout, an answer that is not what the lexicon says).
	RelayUnknown RelayState = "unknown"
)

// RelayOptions configures CheckRelay.
type RelayOptions struct {
	Options
	// Crawl asks the relay to crawl Expect.Host first (requestCrawl);
	// its answer is kept in RelayView.Crawl.
	Crawl bool
	// Wait, when positive, reads the account again every Poll until the
	// relay shows it active at Expect.Rev or later, or Wait has passed.
	Wait time.Duration
	// Poll is the interval of those reads; zero means DefaultPoll.
	Poll time.Duration
}

// CrawlOK is RelayView.Crawl for an accepted requestCrawl.
const CrawlOK = "ok"

// RelayView is what one relay shows of the account. It is meant to be
// printed (Line, Summary, Warning) or serialised as JSON.
type RelayView struct {
	// Relay is the relay's URL as given.
	Relay string `json:"relay"`
	// State is the verdict.
	State RelayState `json:"state"`
	// DID is the account asked about.
	DID string `json:"did"`
	// Active, Status and Rev are the relay's getRepoStatus answer
	// (Status only when not active; Rev empty when it knows no commit).
	Active bool   `json:"active"`
	Status string `json:"status,omitempty"`
	Rev    string `json:"rev,omitempty"`
	// WantRev is the new PDS's rev it was compared with.
	WantRev string `json:"wantRev,omitempty"`
	// Host is the new PDS's hostname; HostStatus and AccountCount the
	// relay's getHostStatus answer for it (HostStatus empty when it
	// was not read: see HostNotFound and HostError).
	Host         string `json:"host"`
	HostStatus   string `json:"hostStatus,omitempty"`
	AccountCount int64  `json:"accountCount"`
	// HostNotFound is set when the relay answered that it does not
	// know the host.
	HostNotFound bool `json:"hostNotFound,omitempty"`
	// RepoNotFound is set when the relay answered that it does not know
	// the account.
	RepoNotFound bool `json:"repoNotFound,omitempty"`
	// Crawl is the requestCrawl answer: "" when not asked, CrawlOK, or
	// the refusal as "Name: message" (or the transport's error);
	// CrawlError is the refusal's XRPC error name ("DomainBan", ...).
	Crawl      string `json:"crawl,omitempty"`
	CrawlError string `json:"crawlError,omitempty"`
	// Error is why getRepoStatus gave no status (not set for
	// RepoNotFound, which State says); HostError the same for
	// getHostStatus.
	Error     string `json:"error,omitempty"`
	HostError string `json:"hostError,omitempty"`
	// Polls counts the reads made while waiting.
	Polls int `json:"polls,omitempty"`
}

// CheckRelays runs CheckRelay on every relay at once and returns their
// views in the order of urls.
func CheckRelays(ctx context.Context, urls []string, e Expect, o RelayOptions) []RelayView {
	views := make([]RelayView, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { views[i] = CheckRelay(ctx, u, e, o) })
	}
	wg.Wait()
	return views
}

// CheckRelay reads what the relay at relayURL shows of e.DID and of
// e.Host: with o.Crawl it first asks it to crawl e.Host, and with o.Wait
// it waits for the relay to catch up (see RelayOptions). It never returns
// an error: a relay it cannot read is RelayUnknown.
func CheckRelay(ctx context.Context, relayURL string, e Expect, o RelayOptions) RelayView {
	v := RelayView{Relay: relayURL, DID: e.DID, Host: e.Host, WantRev: e.Rev}
	cl := o.caller(relayURL)
	defer cl.close()

	if o.Crawl {
		err := cl.call(ctx, func(ctx context.Context, c *pds.Client) error { return c.RequestCrawl(ctx, e.Host) })
		v.Crawl = CrawlOK
		if err != nil {
			v.Crawl, v.CrawlError = describe(err), pds.ErrorName(err)
		}
	}
	v.readHost(ctx, cl)
	v.readRepo(ctx, cl)
	v.classify()

	if o.Wait <= 0 {
		return v
	}
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	deadline := time.Now().Add(o.Wait)
	for v.waitable() && ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if retry.Sleep(ctx, min(poll, left)) != nil {
			break
		}
		v.Polls++
		if v.HostStatus == "" {
			// A crawl may have made the host known since.
			v.readHost(ctx, cl)
		}
		v.readRepo(ctx, cl)
		v.classify()
	}
	return v
}

// readHost reads getHostStatus into v.
func (v *RelayView) readHost(ctx context.Context, cl *caller) {
	var hs *pds.HostStatus
	err := cl.call(ctx, func(ctx context.Context, c *pds.Client) (err error) {
		hs, err = c.GetHostStatus(ctx, v.Host)
		return err
	})
	v.HostStatus, v.AccountCount, v.HostNotFound, v.HostError = "", 0, false, ""
	switch {
	case err == nil && hs.Status == "":
		v.HostError = "getHostStatus answered without a status"
	case err == nil:
		v.HostStatus, v.AccountCount = hs.Status, hs.AccountCount
	case pds.IsHostNotFound(err):
		v.HostNotFound = true
	default:
		v.HostError = describe(err)
	}
}

// readRepo reads getRepoStatus into v.
func (v *RelayView) readRepo(ctx context.Context, cl *caller) {
	var rs *pds.RepoStatus
	err := cl.call(ctx, func(ctx context.Context, c *pds.Client) (err error) {
		rs, err = c.GetRepoStatus(ctx, v.DID)
		return err
	})
	v.Active, v.Status, v.Rev, v.Error, v.RepoNotFound = false, "", "", "", false
	switch {
	case err == nil && rs.DID != "" && rs.DID != v.DID:
		v.Error = fmt.Sprintf("getRepoStatus answered for %s", rs.DID)
	case err == nil:
		v.Active, v.Status, v.Rev = rs.Active, rs.Status, rs.Rev
	case pds.ErrorName(err) == "RepoNotFound":
		v.RepoNotFound = true
	default:
		v.Error = describe(err)
		switch pds.ErrorName(err) {
		case "RepoTakendown":
			v.Status = "takendown"
		case "RepoSuspended":
			v.Status = "suspended"
		}
	}
}

// classify sets State from what was read. The order matters: a banned
// host explains everything else; an unknown host means that what the
// relay shows comes from the old PDS, however recent.
func (v *RelayView) classify() {
	switch {
	case v.HostStatus == "banned" || v.CrawlError == "DomainBan":
		v.State = RelayHostBanned
	case v.Status == "takendown" || v.Status == "suspended":
		v.State = RelayTakendown
	case v.Status == "throttled" || v.Status == "host-throttled":
		v.State = RelayThrottled
	case v.RepoNotFound || v.HostNotFound:
		v.State = RelayNotFollowing
	case v.Error != "":
		v.State = RelayUnknown
	case !v.Active:
		v.State = RelayInactive
	case revAtLeast(v.Rev, v.WantRev):
		v.State = RelayInSync
	case v.HostStatus == "throttled":
		v.State = RelayThrottled
	default:
		v.State = RelayBehind
	}
}

// waitable reports whether waiting may change the state by itself or
// after a crawl: not for a ban, a takedown or a throttle, which only the
// relay's operator lifts.
func (v *RelayView) waitable() bool {
	switch v.State {
	case RelayInSync, RelayHostBanned, RelayTakendown, RelayThrottled:
		return false
	}
	return true
}

// OK reports whether the relay shows the account as it should: active,
// at the new PDS's rev or later, on a host it follows.
func (v RelayView) OK() bool { return v.State == RelayInSync }

// NeedsRepair reports whether asking the relay to crawl the new PDS and
// having the new PDS announce the account again (activation, a fresh
// commit signed by its key) can fix what the relay shows: true for
// RelayBehind, RelayInactive and RelayNotFollowing. It is false when the
// account is in sync, when only the relay's operator can help
// (RelayThrottled, RelayHostBanned, RelayTakendown), and for RelayUnknown,
// where nothing is known to repair.
func (v RelayView) NeedsRepair() bool {
	switch v.State {
	case RelayBehind, RelayInactive, RelayNotFollowing:
		return true
	}
	return false
}

// CrawlRefused reports whether a requestCrawl was sent and not accepted.
func (v RelayView) CrawlRefused() bool { return v.Crawl != "" && v.Crawl != CrawlOK }

// atRev says "at rev X", or "with no rev" when the relay knows no commit.
func atRev(rev string) string {
	if rev == "" {
		return "with no rev"
	}
	return "at rev " + rev
}

// Summary says the state in a few words, without the relay's name: for a
// table cell or a one-line tally.
func (v RelayView) Summary() string {
	switch v.State {
	case RelayInSync:
		return "in sync"
	case RelayBehind:
		return "behind (" + atRev(v.Rev) + ", new PDS at " + v.WantRev + ")"
	case RelayInactive:
		return "inactive (" + v.statusWord() + ")"
	case RelayThrottled:
		return "throttled"
	case RelayHostBanned:
		return "host banned"
	case RelayTakendown:
		return "taken down"
	case RelayNotFollowing:
		if v.RepoNotFound {
			return "does not know the account"
		}
		return "does not follow the new host"
	}
	return "not known"
}

func (v RelayView) statusWord() string {
	if v.Status == "" {
		return "no status given"
	}
	return v.Status
}

// Line is the view in one line for a human, e.g. "relay
// https://bsky.network: in sync, active at rev 3lbz…, host
// pds.example.com active with 12 accounts".
func (v RelayView) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "relay %s: ", v.Relay)
	switch v.State {
	case RelayInSync:
		b.WriteString("in sync, active " + atRev(v.Rev))
	case RelayBehind:
		fmt.Fprintf(&b, "behind, active %s while the new PDS is at %s", atRev(v.Rev), v.WantRev)
	case RelayInactive:
		fmt.Fprintf(&b, "inactive (%s) %s", v.statusWord(), atRev(v.Rev))
	case RelayThrottled:
		if v.Status == "throttled" || v.Status == "host-throttled" {
			b.WriteString("throttled, the account is held inactive (status throttled)")
		} else {
			fmt.Fprintf(&b, "throttled, active %s while the new PDS is at %s", atRev(v.Rev), v.WantRev)
		}
	case RelayHostBanned:
		b.WriteString("the new host is banned")
	case RelayTakendown:
		fmt.Fprintf(&b, "the account is taken down (%s)", v.Status)
	case RelayNotFollowing:
		switch {
		case v.RepoNotFound:
			b.WriteString("not following, it does not know the account")
		case v.Active:
			fmt.Fprintf(&b, "not following the new host, the account is active %s from elsewhere", atRev(v.Rev))
		case v.Error == "":
			fmt.Fprintf(&b, "not following the new host, the account is %s %s", v.statusWord(), atRev(v.Rev))
		default:
			b.WriteString("not following the new host")
		}
	default:
		b.WriteString("not known")
		if v.Error != "" {
			b.WriteString(" (" + v.Error + ")")
		}
	}
	switch {
	case v.HostStatus != "":
		fmt.Fprintf(&b, ", host %s %s with %s", v.Host, v.HostStatus, units.Count(v.AccountCount, "account"))
	case v.HostNotFound:
		fmt.Fprintf(&b, ", host %s unknown to the relay", v.Host)
	case v.HostError != "" && v.State != RelayUnknown:
		fmt.Fprintf(&b, ", host %s not read (%s)", v.Host, v.HostError)
	}
	switch {
	case v.Crawl == CrawlOK:
		b.WriteString("; crawl requested")
	case v.Crawl != "":
		b.WriteString("; crawl request refused: " + v.Crawl)
	}
	return b.String()
}

// Warning says what the state means and what to do, in a few sentences;
// "" when OK.
func (v RelayView) Warning() string {
	const again = "Run the same atmigrate command again later to nudge it"
	r := "Relay " + v.Relay
	switch v.State {
	case RelayInSync:
		return ""
	case RelayBehind:
		return fmt.Sprintf("%s shows the account %s, older than the new PDS's %s: it has not taken the new PDS's latest commit, so apps following it show older data. %s; the account's next post also brings it up to date.",
			r, atRev(v.Rev), v.WantRev, again)
	case RelayInactive:
		return fmt.Sprintf("%s shows the account inactive (%s): it heard the old PDS deactivate the account but not the new PDS activate it, so apps following this relay hide the account. %s. If it stays inactive, ask the new PDS's operator to check that the relay follows %s.",
			r, v.statusWord(), again, v.Host)
	case RelayThrottled:
		return fmt.Sprintf("%s throttles the account: host %s reached the relay's per-host account limit (the reference relay allows %d accounts per host until its operator raises it), so the relay does not pass the account on. Ask the relay's operator to raise the host's account limit; running atmigrate again does not change it.",
			r, v.Host, DefaultAccountLimit)
	case RelayHostBanned:
		return fmt.Sprintf("%s has banned host %s: it takes nothing from the new PDS, so apps following it will not see the account. Ask the relay's operator about the ban, or ask the new PDS's operator; atmigrate cannot change it.",
			r, v.Host)
	case RelayTakendown:
		return fmt.Sprintf("%s has taken the account down (%s): apps following it do not show it. Only the relay's operator can lift it; a migration does not change it.",
			r, v.Status)
	case RelayNotFollowing:
		var what string
		if v.HostNotFound {
			what = fmt.Sprintf("%s does not follow the new PDS %s, so it cannot see the account there (and shows it deactivated once the old PDS deactivates it).", r, v.Host)
		} else {
			what = fmt.Sprintf("%s does not know the account yet: it has had no event for it from %s.", r, v.Host)
		}
		switch {
		case v.CrawlRefused() && v.CrawlError == "HostNotFound":
			what += fmt.Sprintf(" It could not reach %s when asked to crawl it (%s): a relay reaches a PDS over HTTPS from the internet, so the new PDS must be reachable at https://%s. Then run the same atmigrate command again.", v.Host, v.Crawl, v.Host)
		case v.CrawlRefused():
			what += fmt.Sprintf(" It refused the request to crawl %s (%s); ask the relay's operator to add the host, or the new PDS's operator to list the relay among its crawlers (PDS_CRAWLERS). Then run the same atmigrate command again.", v.Host, v.Crawl)
		default:
			what += " " + again + ". If it still does not follow " + v.Host + ", ask the new PDS's operator to list the relay among its crawlers (PDS_CRAWLERS)."
		}
		return what
	}
	msg := fmt.Sprintf("%s could not be read", r)
	if v.Error != "" {
		msg += " (" + v.Error + ")"
	}
	return msg + ": this says nothing about the account. Check the relay's URL, or run the same atmigrate command again later."
}
