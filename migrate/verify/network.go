package verify

import (
	"context"

	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// verifyNetwork adds what the relays and the AppView show of the account:
// a check named relay for each relay and one named appview. They read
// only (no crawl is requested) and never fail: a relay that lags or
// throttles the host is a warning that says what to do, and one that
// cannot be asked is skipped as not known.
func verifyNetwork(ctx context.Context, o Options, r *Report) {
	if len(o.Relays) == 0 && o.AppView == "" {
		return
	}
	exp, ok := expectation(ctx, o)
	if !ok {
		for range o.Relays {
			r.skip("relay", "the DID does not name %s yet, so no relay can show the account there", o.NewPDS)
		}
		if o.AppView != "" {
			r.skip("appview", "the DID does not name %s yet", o.NewPDS)
		}
		return
	}
	views := network.CheckRelays(ctx, o.Relays, exp, network.RelayOptions{Options: o.Network, Wait: o.RelayWait})
	r.Relays = views
	for _, v := range views {
		switch {
		case v.OK():
			r.add("relay", true, "%s", v.Line())
		case v.State == network.RelayUnknown:
			r.skip("relay", "%s", v.Line())
		default:
			r.warn("relay", v.Warning(), "%s", v.Line())
		}
	}
	if o.AppView == "" {
		return
	}
	v := network.CheckAppView(ctx, o.AppView, exp, o.Network)
	r.AppView = &v
	switch {
	case v.OK():
		r.add("appview", true, "%s", v.Line())
	case v.State == network.AppViewUnknown:
		r.skip("appview", "%s", v.Line())
	default:
		r.warn("appview", v.Warning(), "%s", v.Line())
	}
}

// expectation is what the network should show: the account active on the
// new PDS at its latest commit, under the handle the DID document names.
// ok is false when the DID does not point at the new PDS.
func expectation(ctx context.Context, o Options) (network.Expect, bool) {
	host, err := network.Hostname(o.NewPDS)
	if err != nil {
		return network.Expect{}, false
	}
	exp := network.Expect{DID: o.DID, Host: host}
	if o.Document != nil {
		st, err := o.Document(ctx, o.DID)
		if err != nil || servers.NormalURL(st.Endpoint()) != servers.NormalURL(o.NewPDS) {
			return network.Expect{}, false
		}
		exp.Handle = st.Handle()
	}
	if o.New != nil {
		if _, rev, err := o.newLatest(ctx); err == nil {
			exp.Rev = rev
		}
	}
	return exp, true
}
