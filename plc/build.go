package plc

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Intent is what a migration wants the DID document to become. Everything
// not named here is kept from the current document.
type Intent struct {
	// Endpoint is the new PDS URL, exactly as that PDS reports it (no
	// trailing slash: the PDS compares it byte for byte).
	Endpoint string
	// SigningKey is the did:key of the new PDS's signing key for this account.
	SigningKey string
	// PDSRotationKeys are the new PDS's rotation keys (from its
	// getRecommendedDidCredentials); added last.
	PDSRotationKeys []string
	// DropRotationKeys are the old PDS's rotation keys (from the old PDS's
	// recommended credentials); removed unless also listed in
	// AddRotationKeys or PDSRotationKeys.
	DropRotationKeys []string
	// AddRotationKeys are user keys to put at the very top, in order.
	AddRotationKeys []string
	// Handle is the new handle; "" keeps alsoKnownAs as it is.
	Handle string
}

// BuildUpdate returns the unsigned next operation (type plc_operation, prev
// = head CID) that applies in to the current document by merging:
//
//   - rotationKeys = AddRotationKeys, then the current keys not in
//     Drop/PDS/Add (original order), then PDSRotationKeys; deduplicated,
//     first occurrence wins. User keys already at the top stay at the top.
//   - verificationMethods cloned, "atproto" = SigningKey; other methods kept.
//   - services cloned, "atproto_pds" = {AtprotoPersonalDataServer, Endpoint};
//     other services (labeler, feed generator...) kept.
//   - alsoKnownAs: "at://"+Handle first, the previous first at:// entry
//     removed, all other entries kept in order.
func BuildUpdate(s *State, in Intent) (*didplc.RegularOp, error) {
	var errs []error
	if err := checkEndpoint(in.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if err := checkDIDKey("signing key", in.SigningKey); err != nil {
		errs = append(errs, err)
	}
	if len(in.PDSRotationKeys) == 0 {
		errs = append(errs, errors.New("no rotation key for the new PDS (activateAccount refuses a document without it)"))
	}
	for _, k := range in.PDSRotationKeys {
		if err := checkDIDKey("new PDS rotation key", k); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range in.AddRotationKeys {
		if err := checkDIDKey("added rotation key", k); err != nil {
			errs = append(errs, err)
		}
	}
	var handleURI string
	if in.Handle != "" {
		h, err := syntax.ParseHandle(strings.TrimPrefix(in.Handle, "at://"))
		if err != nil {
			errs = append(errs, fmt.Errorf("handle %q: %w", in.Handle, err))
		} else {
			handleURI = "at://" + h.Normalize().String()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build plc update: %w", err)
	}

	op := nextOp(s)

	// Rotation keys: user keys first, survivors in order, new PDS keys last.
	skip := map[string]bool{}
	for _, k := range slices.Concat(in.DropRotationKeys, in.PDSRotationKeys, in.AddRotationKeys) {
		skip[k] = true
	}
	keys := slices.Clone(in.AddRotationKeys)
	for _, k := range s.Op.RotationKeys {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	keys = append(keys, in.PDSRotationKeys...)
	op.RotationKeys = dedupe(keys)

	op.VerificationMethods["atproto"] = in.SigningKey
	op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: in.Endpoint}

	if handleURI != "" {
		aka := []string{handleURI}
		droppedFirst := false
		for _, a := range s.Op.AlsoKnownAs {
			if !droppedFirst && strings.HasPrefix(a, "at://") {
				droppedFirst = true
				continue
			}
			aka = append(aka, a)
		}
		op.AlsoKnownAs = dedupe(aka)
	}
	return op, nil
}

// BuildSigningKeyUpdate returns the unsigned next operation that only sets
// verificationMethods["atproto"] to signingKey. Restore-from-backup uses it
// to install a temporary key it holds, so it can sign service auth for the
// new PDS while the old PDS is gone.
func BuildSigningKeyUpdate(s *State, signingKey string) (*didplc.RegularOp, error) {
	if err := checkDIDKey("signing key", signingKey); err != nil {
		return nil, fmt.Errorf("build signing key update: %w", err)
	}
	op := nextOp(s)
	op.VerificationMethods["atproto"] = signingKey
	return op, nil
}

// BuildAddRotationKey returns the unsigned next operation with didKey at the
// top of rotationKeys (left where it is if already present); everything else
// is kept.
func BuildAddRotationKey(s *State, didKey string) (*didplc.RegularOp, error) {
	if err := checkDIDKey("rotation key", didKey); err != nil {
		return nil, fmt.Errorf("build add rotation key: %w", err)
	}
	op := nextOp(s)
	if !slices.Contains(op.RotationKeys, didKey) {
		op.RotationKeys = append([]string{didKey}, op.RotationKeys...)
	}
	return op, nil
}

// nextOp is a deep copy of the current document as an unsigned
// plc_operation whose prev is the head.
func nextOp(s *State) *didplc.RegularOp {
	op := CloneOp(&s.Op)
	op.Type = "plc_operation"
	op.Sig = nil
	prev := s.Head.CID
	op.Prev = &prev
	return &op
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func checkDIDKey(what, k string) error {
	if k == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
		return fmt.Errorf("%s %q is not a valid did:key: %w", what, k, err)
	}
	return nil
}

func checkEndpoint(e string) error {
	if e == "" {
		return errors.New("endpoint is empty")
	}
	u, err := url.Parse(e)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", e, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an http(s) URL", e)
	}
	if strings.HasSuffix(e, "/") || u.RawQuery != "" || u.Fragment != "" {
		// The PDS compares the endpoint byte for byte with its public URL:
		// a trailing slash fails with "Incorrect endpoint on atproto_pds service".
		return fmt.Errorf("endpoint %q must be a bare URL without trailing slash, query or fragment", e)
	}
	return nil
}
