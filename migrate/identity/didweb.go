package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/plc"
	atprotoid "github.com/bluesky-social/indigo/atproto/identity"
	"github.com/did-method-plc/go-didplc/didplc"
)

// A did:web identity has no PLC directory: its document is a file the user
// publishes at https://<host>/.well-known/did.json. The pipeline moves the
// data as for did:plc; in the identity step it writes the document the
// user must publish and pauses until the published one points at the new
// PDS.

// DIDWebFile is the document written to the state dir for publication.
const DIDWebFile = "did.json"

// IsDIDWeb reports a did:web identity.
func IsDIDWeb(did string) bool { return strings.HasPrefix(did, "did:web:") }

// webURL is where a did:web document lives. Like the reference PDS, it
// uses plain http for localhost (test networks) and https elsewhere.
func webURL(did string) (string, error) {
	rest := strings.TrimPrefix(did, "did:web:")
	if rest == did || rest == "" || strings.Contains(rest, ":") {
		return "", fmt.Errorf("%s: only did:web host names without a path are supported", did)
	}
	host, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("%s: bad host: %w", did, err)
	}
	scheme := "https"
	if h := strings.Split(host, ":")[0]; h == "localhost" {
		scheme = "http"
	}
	return scheme + "://" + host + "/.well-known/did.json", nil
}

// fetchWeb returns the raw document and its atproto view.
func fetchWeb(ctx context.Context, srv servers.Clients, did string) (map[string]any, *plc.State, error) {
	u, err := webURL(did)
	if err != nil {
		return nil, nil, err
	}
	resp, err := srv.Get(ctx, u)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetch %s: HTTP %d", u, resp.StatusCode)
	}
	b, err := bodylimit.ReadAll(resp.Body, maxWebDocBytes, u, "did:web document")
	var tl *bodylimit.TooLargeError
	switch {
	case errors.As(err, &tl):
		return nil, nil, tl // it names the URL already
	case err != nil:
		return nil, nil, fmt.Errorf("read %s: %w", u, err)
	}
	return parseWebDoc(b, did, u)
}

// maxWebDocBytes bounds a did.json: a DID document lists a few keys and
// services in a few kB.
const maxWebDocBytes = 1_000_000

// parseWebDoc reads did's document b, fetched from u: the raw JSON, kept
// to publish the next version, and its atproto view. A document for
// another DID is refused.
func parseWebDoc(b []byte, did, u string) (map[string]any, *plc.State, error) {
	var raw map[string]any
	var doc atprotoid.DIDDocument
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", u, err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", u, err)
	}
	if doc.DID.String() != did {
		return nil, nil, fmt.Errorf("%s describes %s, not %s", u, doc.DID, did)
	}
	return raw, webState(did, &doc), nil
}

// webState presents a did:web document with the same accessors as a PLC
// state (endpoint, signing key, handle), with no rotation keys.
func webState(did string, doc *atprotoid.DIDDocument) *plc.State {
	ident := atprotoid.ParseIdentity(doc)
	op := didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{},
		VerificationMethods: map[string]string{},
		Services:            map[string]didplc.OpService{},
		AlsoKnownAs:         doc.AlsoKnownAs,
	}
	if pub, err := ident.PublicKey(); err == nil {
		op.VerificationMethods["atproto"] = pub.DIDKey()
	}
	if ep := ident.PDSEndpoint(); ep != "" {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: ep}
	}
	return &plc.State{DID: did, Op: op}
}

// nextWebDoc keeps everything in the published document except the
// atproto signing key, the PDS endpoint and the handle.
func nextWebDoc(raw map[string]any, did string, in plc.Intent) map[string]any {
	doc := map[string]any{}
	for k, v := range raw {
		doc[k] = v
	}
	var vms []any
	if list, ok := raw["verificationMethod"].([]any); ok {
		for _, v := range list {
			if vm, ok := v.(map[string]any); ok && isFragment(vm["id"], did, "atproto") {
				continue
			}
			vms = append(vms, v)
		}
	}
	multibase := strings.TrimPrefix(in.SigningKey, "did:key:")
	vms = append([]any{map[string]any{"id": did + "#atproto", "type": "Multikey", "controller": did, "publicKeyMultibase": multibase}}, vms...)
	doc["verificationMethod"] = vms
	var svcs []any
	if list, ok := raw["service"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(map[string]any); ok && isFragment(s["id"], did, "atproto_pds") {
				continue
			}
			svcs = append(svcs, v)
		}
	}
	svcs = append([]any{map[string]any{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": in.Endpoint}}, svcs...)
	doc["service"] = svcs
	if in.Handle != "" {
		aka := []any{"at://" + in.Handle}
		first := true
		if list, ok := raw["alsoKnownAs"].([]any); ok {
			for _, v := range list {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "at://") && first {
					first = false
					continue
				}
				aka = append(aka, v)
			}
		}
		doc["alsoKnownAs"] = aka
	}
	return doc
}

func isFragment(id any, did, frag string) bool {
	s, _ := id.(string)
	return s == "#"+frag || s == did+"#"+frag
}

// ErrDIDWebNoRotation is why a did:web has nothing for a rotation key to sign.
var ErrDIDWebNoRotation = errors.New("a did:web identity has no rotation keys")
