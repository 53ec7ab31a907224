package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// probePolicy is the retry policy of the first contact with a server: a
// mistyped URL or a server that is down should be known in a second or
// two, not after a minute of retries.
var probePolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: time.Minute}

// advisoryPolicy is for calls whose answer only informs (is the handle
// taken?): another implementation may take seconds to fail them, so they
// are tried twice and bounded by advisoryTimeout, never retried for a
// minute.
var advisoryPolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: 5 * time.Second}

const advisoryTimeout = 15 * time.Second

// advisoryResolveHandle asks the PDS at url for handle's DID, as an
// advisory call.
func (m *Migrator) advisoryResolveHandle(ctx context.Context, url, handle string) (string, error) {
	opts := m.pdsOptions(nil)
	if sameURL(url, m.opts.NewPDS) {
		opts = m.pdsOptions(m.opts.NewPDSHeaders)
	}
	if m.opts.Retry == nil {
		opts.Retry = advisoryPolicy
	}
	ctx, cancel := context.WithTimeout(ctx, advisoryTimeout)
	defer cancel()
	return pds.New(url, opts).ResolveHandle(ctx, handle)
}

// observe reads what the servers say now: the DID document and audit log,
// the new PDS and the account there, the old PDS and the account there. It
// writes nothing anywhere. Errors are only for what stops observing
// altogether (the PLC directory); a server that does not answer is an
// observation.
func (m *Migrator) observe(ctx context.Context) (World, error) {
	var w World
	st, err := m.identityState(ctx, m.did)
	if err != nil {
		return w, m.identityReadError(err)
	}
	if st, err = m.awaitRecordedOp(ctx, st); err != nil {
		return w, err
	}
	m.plcState = st
	w.Endpoint = strings.TrimRight(st.Endpoint(), "/")
	if m.st.PLC.OpCID != "" {
		w.OurOpApplied = logHas(st, m.st.PLC.OpCID)
	}

	w.New = m.probeServer(ctx, m.opts.NewPDS)
	if w.New.Reachable {
		m.st.NewPDSDID = w.New.ServiceDID
	}

	// Where does the DID point? The new PDS's service DID decides, not
	// the URL typed: the same server can be reached by several URLs.
	var home Server
	switch {
	case w.Endpoint == "":
	case sameURL(w.Endpoint, m.opts.NewPDS) || sameURL(w.Endpoint, m.st.NewPDSEndpoint):
		home = w.New
	default:
		home = m.probeServer(ctx, w.Endpoint)
	}
	w.Switched = w.Endpoint != "" && w.New.Reachable &&
		(sameURL(w.Endpoint, m.opts.NewPDS) || sameURL(w.Endpoint, m.st.NewPDSEndpoint) ||
			(home.ServiceDID != "" && home.ServiceDID == w.New.ServiceDID))

	// Which server is the old one: the one the user named, the one this
	// state dir moved from, or, before the switch, where the DID points.
	oldURL := m.opts.OldPDS
	if oldURL == "" {
		oldURL = m.st.OldPDS
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
			p := m.probeServer(ctx, prev)
			if (w.New.HasAccount && !w.New.Active) || (p.HasAccount && !p.Active) {
				w.Old = p
				return w, nil
			}
		}
	}
	switch {
	case oldURL == "":
	case sameURL(oldURL, w.Endpoint) && !w.Switched:
		w.Old = home
	default:
		w.Old = m.probeServer(ctx, oldURL)
	}
	return w, nil
}

// probeServer asks one PDS who it is and what it knows of the account.
func (m *Migrator) probeServer(ctx context.Context, url string) Server {
	s := Server{Known: url != "", URL: strings.TrimRight(url, "/")}
	if !s.Known {
		return s
	}
	opts := m.pdsOptions(nil)
	if sameURL(url, m.opts.NewPDS) {
		opts = m.pdsOptions(m.opts.NewPDSHeaders)
	}
	if m.opts.Retry == nil {
		opts.Retry = probePolicy
	}
	c := pds.New(s.URL, opts)
	info, err := c.DescribeServer(ctx)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	s.Reachable, s.ServiceDID = true, info.DID
	if sameURL(url, m.opts.NewPDS) {
		m.newInfo = info
	}
	rs, err := c.GetRepoStatus(ctx, m.did)
	switch {
	case err == nil:
		s.HasAccount, s.Active, s.Status = true, rs.Active, rs.Status
	case repoNotFound(err):
	default:
		s.AccountErr = err.Error()
	}
	return s
}

// repoNotFound reports an answer that says the server hosts no such repo:
// the reference PDS's 400 RepoNotFound, or a plain 404. Anything else (a
// 500, an unknown error) says nothing either way.
func repoNotFound(err error) bool {
	var ae *pds.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Name == "RepoNotFound" || ae.Name == "NotFound" || ae.Status == http.StatusNotFound
}

// identityReadError explains why the DID document could not be read.
func (m *Migrator) identityReadError(err error) error {
	if isDIDWeb(m.did) {
		return inputErr(err, "the document must be published at https://<host>/.well-known/did.json", "cannot read %s's did:web document", m.did)
	}
	if errors.Is(err, plc.ErrDIDNotFound) {
		return inputErr(err, "check --account and --plc-url", "the PLC directory at %s does not know %s", m.opts.PLCURL, m.did)
	}
	return fmt.Errorf("read the DID's PLC audit log: %w", err)
}

// invocation is how this run was started, for the planner.
func (m *Migrator) invocation() Invocation {
	inv := Invocation{Source: SourcePDS, Signer: SignEmailToken, NoDeactivateOld: m.opts.NoDeactivateOld,
		OldPDSGiven: m.opts.OldPDS != "", ByHandle: !strings.HasPrefix(m.opts.Account, "did:")}
	if m.opts.FromBackup != "" {
		inv.Source = SourceBackup
	}
	switch {
	case isDIDWeb(m.did):
		inv.Signer = SignDIDWeb
	case m.opts.RotationKey != nil:
		inv.Signer = SignRotationKey
	}
	return inv
}

// logHas reports whether the operation cid is in the audit log and live.
func logHas(st *plc.State, cid string) bool {
	for _, e := range st.Log {
		if e.CID == cid && !e.Nullified {
			return true
		}
	}
	return false
}

// sameURL compares two server URLs as typed, ignoring a trailing slash and
// the case of the scheme and host.
func sameURL(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// previousEndpoint is the PDS the DID named before its current one: the
// endpoint of the latest live operation that named another.
func previousEndpoint(st *plc.State) string {
	cur := strings.TrimRight(st.Endpoint(), "/")
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
		if ep = strings.TrimRight(ep, "/"); ep != "" && ep != cur {
			return ep
		}
	}
	return ""
}
