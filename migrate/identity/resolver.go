package identity

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
	atprotoid "github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Resolver reads who an account is: a handle resolved to a DID, and the
// DID's document (the PLC audit log, or a did:web's did.json). Every core
// entry point that names an account goes through it.
type Resolver struct {
	Servers servers.Clients
	PLC     *plc.Client
	PLCURL  string
	// OldPDS resolves handles when set; NewPDS (with NewHeaders) is asked
	// last, for a handle only the new PDS still answers for.
	OldPDS     string
	NewPDS     string
	NewHeaders http.Header
}

// Resolve turns account (a handle or a DID) into a DID: through the old
// PDS when one is named, DNS/HTTPS otherwise, and then the new PDS, whose
// answer counts only when the DID document claims the handle.
func (id Resolver) Resolve(ctx context.Context, account string) (string, error) {
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
	if id.OldPDS != "" {
		did, err := id.Servers.PDS(id.OldPDS, nil).ResolveHandle(ctx, h)
		if err == nil {
			return did, nil
		}
		if pds.IsTransient(err) {
			return "", fmt.Errorf("resolve %s at %s: %w", handle, id.OldPDS, err)
		}
		first = failure.Input(err, "check the handle, or pass the DID with {account}", "%s does not know the handle %s", id.OldPDS, handle)
	} else {
		dir := &atprotoid.BaseDirectory{PLCURL: id.PLCURL, UserAgent: "atmigrate/" + servers.Version}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		did, err := dir.ResolveHandle(rctx, handle)
		cancel()
		if err == nil {
			if did.Method() != "plc" && did.Method() != "web" {
				return "", failure.Input(nil, "atmigrate moves did:plc and did:web accounts", "%s is a did:%s account", did, did.Method())
			}
			return did.String(), nil
		}
		first = failure.Input(err, "check the handle, or pass {old-pds} (handles are then resolved by that PDS) or the DID", "cannot resolve the handle %s", handle)
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
func (id Resolver) resolveOnNewPDS(ctx context.Context, handle string) (string, error) {
	if id.NewPDS == "" {
		return "", nil
	}
	did, err := id.Servers.Probe(id.NewPDS, id.NewHeaders).ResolveHandle(ctx, handle)
	if err != nil || !strings.HasPrefix(did, "did:") {
		return "", nil
	}
	st, err := id.State(ctx, did)
	if errors.Is(err, plc.ErrDIDNotFound) {
		return "", nil // the directory does not know what the new PDS answered
	}
	if err != nil {
		return "", fmt.Errorf("check %s's answer for %s (%s) against its DID document: %w", id.NewPDS, handle, did, err)
	}
	for _, aka := range st.Op.AlsoKnownAs {
		if strings.EqualFold(aka, "at://"+handle) {
			return did, nil
		}
	}
	return "", nil
}

// State reads the DID's current document: the PLC audit log for did:plc,
// the published did.json for did:web.
func (id Resolver) State(ctx context.Context, did string) (*plc.State, error) {
	if IsDIDWeb(did) {
		_, st, err := fetchWeb(ctx, id.Servers, did)
		return st, err
	}
	return id.PLC.State(ctx, did)
}

// ReadError explains why the DID document could not be read.
func (id Resolver) ReadError(did string, err error) error {
	if IsDIDWeb(did) {
		return failure.Input(err, "the document must be published at https://<host>/.well-known/did.json", "cannot read %s's did:web document", did)
	}
	if errors.Is(err, plc.ErrDIDNotFound) {
		return failure.Input(err, "check {account} and {plc-url}", "the PLC directory at %s does not know %s", id.PLCURL, did)
	}
	return fmt.Errorf("read the DID's PLC audit log: %w", err)
}
