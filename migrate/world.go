package migrate

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/plan"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// advisoryResolveHandle asks the PDS at url for handle's DID, as an
// advisory call.
func (e *env) advisoryResolveHandle(ctx context.Context, url, handle string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, servers.AdvisoryTimeout)
	defer cancel()
	return e.srv.Advisory(url, e.headersFor(url)).ResolveHandle(ctx, handle)
}

// headersFor is what to send to the server at url: the new PDS gets its
// admin's bypass header, no other server ever does.
func (e *env) headersFor(url string) http.Header {
	if servers.SameURL(url, e.opts.NewPDS) {
		return e.opts.NewPDSHeaders
	}
	return nil
}

// observe reads what the servers say now: the DID document and audit log,
// the new PDS and the account there, the old PDS and the account there. It
// writes nothing anywhere. Errors are only for what stops observing
// altogether (the PLC directory); a server that does not answer is an
// observation.
func (m *Migrator) observe(ctx context.Context) (plan.World, error) {
	var w plan.World
	st, err := m.ids.State(ctx, m.did)
	if err != nil {
		return w, m.ids.ReadError(m.did, err)
	}
	if st, err = m.submitter().AwaitRecorded(ctx, m.did, m.sd.st.PLC, st); err != nil {
		return w, err
	}
	m.plcState = st
	w.Endpoint = servers.NormalURL(st.Endpoint())
	if m.sd.st.PLC.OpCID != "" {
		w.OurOpApplied = identity.Live(st, m.sd.st.PLC.OpCID)
	}

	w.New = m.probeServer(ctx, m.opts.NewPDS, m.to)
	if w.New.Reachable {
		m.sd.st.NewPDSDID = w.New.ServiceDID
	}

	// Where does the DID point? The new PDS's service DID decides, not
	// the URL typed: the same server can be reached by several URLs.
	var home plan.Server
	switch {
	case w.Endpoint == "":
	case servers.SameURL(w.Endpoint, m.opts.NewPDS) || servers.SameURL(w.Endpoint, m.sd.st.NewPDSEndpoint):
		home = w.New
	default:
		home = m.probeServer(ctx, w.Endpoint, m.to)
	}
	w.Switched = w.Endpoint != "" && w.New.Reachable &&
		(servers.SameURL(w.Endpoint, m.opts.NewPDS) || servers.SameURL(w.Endpoint, m.sd.st.NewPDSEndpoint) ||
			(home.ServiceDID != "" && home.ServiceDID == w.New.ServiceDID))

	// Which server is the old one: the one the user named, the one this
	// state dir moved from, or, before the switch, where the DID points.
	oldURL := m.opts.OldPDS
	if oldURL == "" {
		oldURL = m.sd.st.OldPDS
	}
	if oldURL == "" && !w.Switched {
		oldURL = w.Endpoint
	}
	if oldURL == "" && w.Switched {
		// The state dir is new or lost, but the audit log still says
		// where the account came from. That server is taken as the old
		// one only when it cannot hurt: the move stopped before the
		// activation, or the old account there is already deactivated
		// (then there is nothing left but to check). An old account still
		// active there is not deactivated on the log's word alone.
		if prev := previousEndpoint(st); prev != "" {
			p := m.probeServer(ctx, prev, m.to)
			if (w.New.HasAccount && !w.New.Active) || (p.HasAccount && !p.Active) {
				w.Old = p
				return w, nil
			}
		}
	}
	switch {
	case oldURL == "":
	case servers.SameURL(oldURL, w.Endpoint) && !w.Switched:
		w.Old = home
	default:
		w.Old = m.probeServer(ctx, oldURL, m.to)
	}
	return w, nil
}

// probeServer asks one PDS who it is and what it knows of the account;
// the new PDS's description is kept in to.
func (e *env) probeServer(ctx context.Context, url string, to *destination) plan.Server {
	s := plan.Server{Known: url != "", URL: servers.NormalURL(url)}
	if !s.Known {
		return s
	}
	c := e.srv.Probe(s.URL, e.headersFor(url))
	info, err := c.DescribeServer(ctx)
	if err != nil {
		s.Err = err.Error()
		s.Stalled = errors.Is(err, stall.ErrStalled)
		return s
	}
	s.Reachable, s.ServiceDID = true, info.DID
	if rl, ok := c.RateLimit("com.atproto.server.describeServer"); ok {
		s.RateLimit = &rl
	}
	if to != nil && servers.SameURL(url, e.opts.NewPDS) {
		to.info = info
	}
	rs, err := c.GetRepoStatus(ctx, e.did)
	switch {
	case err == nil:
		s.HasAccount, s.Active, s.Status = true, rs.Active, rs.Status
	case pds.IsRepoNotFound(err):
	default:
		s.AccountErr = err.Error()
	}
	return s
}

// invocation is how this run was started, for the planner.
func (m *Migrator) invocation() plan.Invocation {
	inv := plan.Invocation{Source: plan.SourcePDS, Signer: plan.SignEmailToken, NoDeactivateOld: m.opts.NoDeactivateOld,
		OldPDSGiven: m.opts.OldPDS != "", ByHandle: !strings.HasPrefix(m.opts.Account, "did:"),
		Network: len(m.opts.Relays) > 0 || m.opts.AppView != ""}
	if m.opts.FromBackup != "" {
		inv.Source = plan.SourceBackup
	}
	switch {
	case identity.IsDIDWeb(m.did):
		inv.Signer = plan.SignDIDWeb
	case m.opts.RotationKey != nil:
		inv.Signer = plan.SignRotationKey
	}
	return inv
}

// previousEndpoint is the PDS the DID named before its current one: the
// endpoint of the latest live operation that named another.
func previousEndpoint(st *plc.State) string {
	cur := servers.NormalURL(st.Endpoint())
	for i := len(st.Log) - 1; i >= 0; i-- {
		e := st.Log[i]
		if e.Nullified {
			continue
		}
		var ep string
		switch op := e.Operation.AsOperation().(type) {
		case *didplc.RegularOp:
			ep = op.Services["atproto_pds"].Endpoint
		case *didplc.LegacyOp:
			ep = op.Service
		}
		if ep = servers.NormalURL(ep); ep != "" && ep != cur {
			return ep
		}
	}
	return ""
}
