package migrate

import (
	"context"
	"net/http"

	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// LookOptions says whom LookAtNetwork asks.
type LookOptions struct {
	Relays     []string
	AppView    string
	HTTPClient *http.Client
}

// LookAtNetwork reads what the relays and the AppView show now of the
// account a migration moved (st, its state file): one read each, nothing
// requested or changed, so `status` and `watch` can show it. A migration
// that has not switched the DID yet has nothing to show: ok is false.
func LookAtNetwork(ctx context.Context, st *checkpoint.State, o LookOptions) (seen network.Seen, ok bool) {
	if len(o.Relays) == 0 && o.AppView == "" {
		return network.Seen{}, false
	}
	if !st.Completed && !st.Done(stage.Identity) {
		return network.Seen{}, false
	}
	opts := Options{NewPDS: st.NewPDS, PLCURL: st.PLCURL, HTTPClient: o.HTTPClient, Relays: o.Relays, AppView: o.AppView}
	opts.defaults()
	srv, ids, newPDS := opts.clients()
	e := &env{opts: opts, prog: opts.Progress, ui: opts.UI, srv: srv, ids: ids, act: performer{}, did: st.DID}
	d := &downstream{env: e, to: &destination{pds: newPDS}, seen: &seen}
	exp, err := d.expect(ctx)
	if err != nil {
		// The new PDS did not say its latest commit: the relays' view is
		// read against no rev, their host and status still tell.
		host, _ := network.Hostname(st.NewPDS)
		exp = network.Expect{DID: st.DID, Host: host}
	}
	seen.Relays = network.CheckRelays(ctx, o.Relays, exp, network.RelayOptions{Options: srv.Network()})
	if o.AppView != "" {
		v := network.CheckAppView(ctx, o.AppView, exp, srv.Network())
		seen.AppView = &v
	}
	return seen, true
}
