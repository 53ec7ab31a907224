package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// downstream is the end of the move as the network sees it: the relays
// that collect the new PDS's events and the AppView that indexes them.
// What they show never fails a migration (the account is moved whatever a
// relay says): a relay that lags, refuses or throttles is a warning that
// says what to do. A re-run of a complete migration repairs: it asks each
// relay that lags to crawl the new PDS again and has the new PDS announce
// the account again; it never makes a PLC operation or touches the data.
type downstream struct {
	*env
	sd   *stateDir
	to   *destination
	acct *newAccount
	// seen is what the relays and the AppView showed, for the result.
	seen *network.Seen
}

func (d *downstream) run(ctx context.Context) (string, error) {
	exp, err := d.expect(ctx)
	if err != nil {
		return "", err
	}
	o := network.RelayOptions{Options: d.srv.Network()}
	views := network.CheckRelays(ctx, d.opts.Relays, exp, o)
	if lagging(views) && d.sd.st.Completed {
		// A complete migration run again: the new PDS announces the
		// account again (activateAccount emits its #identity, #account
		// and #sync events), which a relay that now follows the host
		// takes in.
		if err := d.announce(ctx); err != nil {
			return "", err
		}
		if exp, err = d.expect(ctx); err != nil {
			return "", err
		}
	}
	views = d.catchUp(ctx, exp, views, o)
	var app *network.AppViewView
	if d.opts.AppView != "" {
		v := network.CheckAppView(ctx, d.opts.AppView, exp, d.srv.Network())
		app = &v
	}
	*d.seen = network.Seen{Relays: views, AppView: app}
	return d.report(views, app), nil
}

// expect is what the network should show: the account active at the new
// PDS's latest commit, under the handle the DID names.
func (d *downstream) expect(ctx context.Context) (network.Expect, error) {
	_, rev, err := d.to.pds.GetLatestCommit(ctx, d.did)
	if err != nil {
		return network.Expect{}, fmt.Errorf("read the latest commit on %s: %w", d.opts.NewPDS, err)
	}
	host, err := network.Hostname(d.opts.NewPDS)
	if err != nil {
		return network.Expect{}, err
	}
	exp := network.Expect{DID: d.did, Host: host, Rev: rev}
	if st, err := d.ids.State(ctx, d.did); err == nil {
		exp.Handle = st.Handle()
	}
	return exp, nil
}

// catchUp asks each relay whose view is not the new PDS's to crawl the
// new PDS, and waits (RelayWait at most) for it to show the account
// there. The request goes through the actor: the dry run records it.
func (d *downstream) catchUp(ctx context.Context, exp network.Expect, views []network.RelayView, o network.RelayOptions) []network.RelayView {
	out := make([]network.RelayView, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		if v.OK() {
			out[i] = v
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = v
			effect := Effect{Stage: stage.Network, What: fmt.Sprintf("ask the relay %s to crawl %s, and wait for it to show the account", v.Relay, exp.Host), aside: true}
			_ = d.act.act(ctx, effect, func(ctx context.Context) error {
				wait := o
				wait.Crawl, wait.Wait = true, d.opts.RelayWait
				out[i] = network.CheckRelay(ctx, v.Relay, exp, wait)
				return nil
			})
		}()
	}
	wg.Wait()
	return out
}

// announce has the new PDS announce the account again.
func (d *downstream) announce(ctx context.Context) error {
	if err := d.acct.loginNew(ctx); err != nil {
		return err
	}
	effect := Effect{Stage: stage.Network, What: "have " + d.opts.NewPDS + " announce the account again (activateAccount)", aside: true}
	if err := d.act.act(ctx, effect, d.to.pds.ActivateAccount); err != nil && !errors.Is(err, errRecorded) {
		return fmt.Errorf("announce the account again on %s: %w", d.opts.NewPDS, err)
	}
	return nil
}

// report tells the user each view, a line each, with a warning for each
// that is not what it should be, and sums them up in the stage's note.
func (d *downstream) report(views []network.RelayView, app *network.AppViewView) string {
	var parts []string
	synced := 0
	for _, v := range views {
		d.prog.Info(v.Line())
		if v.OK() {
			synced++
		} else if w := v.Warning(); w != "" {
			d.prog.Warn(w)
		}
	}
	if len(views) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d relay(s) show the account at the new PDS's latest commit", synced, len(views)))
	}
	if app != nil {
		d.prog.Info(app.Line())
		if !app.OK() {
			d.prog.Warn(app.Warning())
		}
		parts = append(parts, app.Summary())
	}
	return strings.Join(parts, "; ")
}

// lagging reports whether a relay shows something a re-announcement can
// fix.
func lagging(views []network.RelayView) bool {
	for _, v := range views {
		if v.NeedsRepair() {
			return true
		}
	}
	return false
}
