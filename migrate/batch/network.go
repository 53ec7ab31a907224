package batch

import (
	"context"
	"strings"

	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// checkRelayHosts reads, before the first account moves, how each relay
// sees the new PDS's host, and warns (Options.Warn) when coming accounts
// would arrive at a host the relay does not know, throttles, bans, or
// that has less room under its account limit than the batch needs: a
// relay marks each account past the limit throttled, invisible to the
// network until its operator raises the limit. A warning, never a refusal:
// the accounts move either way.
func (b *batchRun) checkRelayHosts(ctx context.Context, coming int) []network.HostView {
	if len(b.o.Base.Relays) == 0 || coming == 0 {
		return nil
	}
	host, err := network.Hostname(b.o.Base.NewPDS)
	if err != nil {
		return nil
	}
	opts := servers.New(b.o.Base.HTTPClient, b.o.Base.Retry, nil, nil).Network()
	views := make([]network.HostView, len(b.o.Base.Relays))
	for i, r := range b.o.Base.Relays {
		views[i] = network.CheckHost(ctx, r, host, coming, b.o.RelayHostLimit, opts)
		if !views[i].OK() && b.o.Warn != nil {
			b.o.Warn(views[i].Warning())
		}
	}
	return views
}

// relaysFrom records what the relays showed of the account at the end of
// its run.
func relaysFrom(e *Entry, views []network.RelayView) {
	if len(views) == 0 {
		return
	}
	e.Relays = views
	e.Throttled = nil
	for _, v := range views {
		if v.State == network.RelayThrottled {
			e.Throttled = append(e.Throttled, v.Relay)
		}
	}
}

// relayWord is the account's relay views in a word each, for the table
// and the CSV: "in-sync", "throttled, in-sync".
func relayWord(e *Entry) string {
	var words []string
	for _, v := range e.Relays {
		words = append(words, string(v.State))
	}
	return strings.Join(words, ", ")
}

// needsNudge reports whether a migrated account's relays showed something
// a run of its (complete) migration can repair: the run asks them to
// crawl again and has the new PDS announce the account again.
func needsNudge(e *Entry) bool {
	for _, v := range e.Relays {
		if v.NeedsRepair() || v.State == network.RelayThrottled {
			return true
		}
	}
	return false
}

// Throttled lists the accounts a relay held throttled at the end of their
// last run.
func (x *Index) Throttled() []*Entry {
	var out []*Entry
	for _, e := range x.Accounts {
		if len(e.Throttled) > 0 {
			out = append(out, e)
		}
	}
	return out
}
