package migrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// identities reads who an account is: a handle resolved to a DID, and the
// DID's document (the PLC audit log, or a did:web's did.json). Every core
// entry point that names an account goes through it.
type identities struct {
	srv    servers.Clients
	plc    *plc.Client
	plcURL string
	// oldPDS resolves handles when set; newPDS (with newHeaders) is asked
	// last, for a handle only the new PDS still answers for.
	oldPDS     string
	newPDS     string
	newHeaders http.Header
}

// identitiesFor are the identities of a run with options o.
func identitiesFor(o Options, srv servers.Clients) identities {
	return identities{srv: srv, plc: srv.PLC(o.PLCURL), plcURL: o.PLCURL, oldPDS: o.OldPDS, newPDS: o.NewPDS, newHeaders: o.NewPDSHeaders}
}

// resolve turns account (a handle or a DID) into a DID: through the old
// PDS when one is named, DNS/HTTPS otherwise, and then the new PDS, whose
// answer counts only when the DID document claims the handle.
func (id identities) resolve(ctx context.Context, account string) (string, error) {
	atid, err := syntax.ParseAtIdentifier(account)
	if err != nil {
		return "", failure.Input(nil, "give a handle like alice.example.com or a DID like did:plc:...", "%q is neither a handle nor a DID", account)
	}
	if atid.IsDID() {
		did, _ := atid.AsDID()
		if did.Method() != "plc" && did.Method() != "web" {
			return "", failure.Input(nil, "atmigrate moves did:plc and did:web accounts", "%s is a did:%s account", did, did.Method())
		}
		return did.String(), nil
	}
	handle, _ := atid.AsHandle()
	h := handle.Normalize().String()
	var first error
	if id.oldPDS != "" {
		did, err := id.srv.PDS(id.oldPDS, nil).ResolveHandle(ctx, h)
		if err == nil {
			return did, nil
		}
		if pds.IsTransient(err) {
			return "", fmt.Errorf("resolve %s at %s: %w", handle, id.oldPDS, err)
		}
		first = failure.Input(err, "check the handle, or pass the DID with --account", "%s does not know the handle %s", id.oldPDS, handle)
	} else {
		dir := &identity.BaseDirectory{PLCURL: id.plcURL, UserAgent: "atmigrate/" + servers.Version}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		did, err := dir.ResolveHandle(rctx, handle)
		cancel()
		if err == nil {
			if did.Method() != "plc" && did.Method() != "web" {
				return "", failure.Input(nil, "atmigrate moves did:plc and did:web accounts", "%s is a did:%s account", did, did.Method())
			}
			return did.String(), nil
		}
		first = failure.Input(err, "check the handle, or pass --old-pds (handles are then resolved by that PDS) or the DID", "cannot resolve the handle %s", handle)
	}
	// A deactivated account's handle no longer resolves on its old PDS:
	// after a move (or half of one) the new PDS answers for it. Its word is
	// taken only when the DID document claims the handle back.
	did, err := id.resolveOnNewPDS(ctx, h)
	if err != nil {
		return "", err
	}
	if did != "" {
		return did, nil
	}
	return "", first
}

// resolveOnNewPDS asks the new PDS for the handle and checks the answer
// against the DID document's alsoKnownAs: "" when it cannot vouch for it.
// The new PDS's silence is only that, but a DID document that cannot be
// read is an error: the move could not go on without it anyway, and "cannot
// resolve the handle" would send the user after the wrong problem.
func (id identities) resolveOnNewPDS(ctx context.Context, handle string) (string, error) {
	if id.newPDS == "" {
		return "", nil
	}
	did, err := id.srv.Probe(id.newPDS, id.newHeaders).ResolveHandle(ctx, handle)
	if err != nil || !strings.HasPrefix(did, "did:") {
		return "", nil
	}
	st, err := id.state(ctx, did)
	if errors.Is(err, plc.ErrDIDNotFound) {
		return "", nil // the directory does not know what the new PDS answered
	}
	if err != nil {
		return "", fmt.Errorf("check %s's answer for %s (%s) against its DID document: %w", id.newPDS, handle, did, err)
	}
	for _, aka := range st.Op.AlsoKnownAs {
		if strings.EqualFold(aka, "at://"+handle) {
			return did, nil
		}
	}
	return "", nil
}

// state reads the DID's current document: the PLC audit log for did:plc,
// the published did.json for did:web.
func (id identities) state(ctx context.Context, did string) (*plc.State, error) {
	if isDIDWeb(did) {
		_, st, err := fetchDIDWeb(ctx, id.srv, did)
		return st, err
	}
	return id.plc.State(ctx, did)
}

// readError explains why the DID document could not be read.
func (id identities) readError(did string, err error) error {
	if isDIDWeb(did) {
		return failure.Input(err, "the document must be published at https://<host>/.well-known/did.json", "cannot read %s's did:web document", did)
	}
	if errors.Is(err, plc.ErrDIDNotFound) {
		return failure.Input(err, "check --account and --plc-url", "the PLC directory at %s does not know %s", id.plcURL, did)
	}
	return fmt.Errorf("read the DID's PLC audit log: %w", err)
}

// ResolveAccount turns a handle or DID into a DID, resolving handles
// through pdsURL when given (needed for handles only a PDS knows) and
// through DNS/HTTPS otherwise.
func ResolveAccount(ctx context.Context, account, pdsURL, plcURL string) (string, error) {
	return ResolveDID(ctx, Options{Account: account, OldPDS: pdsURL, PLCURL: plcURL})
}

// ResolveDID turns o.Account into a DID exactly as Run does: through
// o.OldPDS when set, DNS/HTTPS otherwise, then o.NewPDS.
func ResolveDID(ctx context.Context, o Options) (string, error) {
	o.defaults()
	return identitiesFor(o, serversFor(o)).resolve(ctx, o.Account)
}
