package plc

import (
	"fmt"
	"slices"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// A repo commit is signed with the DID's atproto key of the time it was
// written, and a PDS signs a new commit only when it writes one. Right
// after a migration the new PDS still serves the imported commit, signed
// by the old PDS's key; an old, deactivated account keeps one signed by a
// key the DID no longer names. So a commit is checked against every key
// the DID has had, not only its current one.

// SigningKey is one atproto signing key in a DID's history.
type SigningKey struct {
	DIDKey string
	// Until is when an operation replaced it as the DID's key; zero for
	// the current key.
	Until time.Time
}

// SigningKeys is a DID's signing-key history, newest first.
type SigningKeys []SigningKey

// SigningKeyHistory returns the DID's atproto signing keys, newest first:
// the current one, then each earlier `verificationMethods.atproto` (or
// legacy `signingKey`) of the audit log, each key once, with the time it
// last stopped being current. Nullified operations do not count: an
// operation overridden by a higher rotation key never was the DID's state
// that stuck (most often it is the one its owner undid), so a commit
// signed by a key only such an operation named is not the account's. A
// state without a log (did:web) has its current key only.
func (s *State) SigningKeyHistory() SigningKeys {
	if len(s.Log) == 0 {
		if k := s.SigningKey(); k != "" {
			return SigningKeys{{DIDKey: k}}
		}
		return nil
	}
	// Oldest first, one entry each time a key became current.
	var spans []SigningKey
	cur := ""
	for _, e := range s.Log {
		if e.Nullified {
			continue
		}
		doc := docOf(e)
		if doc == nil {
			continue // a tombstone: StateFromLog refuses one at the head
		}
		k := doc.VerificationMethods["atproto"]
		if k == cur {
			continue
		}
		if cur != "" {
			// StateFromLog verified every timestamp.
			spans[len(spans)-1].Until, _ = parseCreatedAt(e.CreatedAt)
		}
		cur = k
		if k != "" {
			spans = append(spans, SigningKey{DIDKey: k})
		}
	}
	out := make(SigningKeys, 0, len(spans))
	for _, sk := range slices.Backward(spans) {
		if _, seen := out.Find(sk.DIDKey); !seen {
			out = append(out, sk)
		}
	}
	return out
}

// Find returns the entry for didKey.
func (h SigningKeys) Find(didKey string) (SigningKey, bool) {
	for _, k := range h {
		if k.DIDKey == didKey {
			return k, true
		}
	}
	return SigningKey{}, false
}

// Earlier returns the entry for didKey when it is one of the history's
// earlier keys, not the current one.
func (h SigningKeys) Earlier(didKey string) (SigningKey, bool) {
	k, ok := h.Find(didKey)
	return k, ok && !k.Until.IsZero()
}

// PublicKeys parses the keys, in order, for checking a commit signature.
// The current key must parse. An earlier one that does not is left out: no
// one can have verified a commit against it, so no PDS signed with it.
func (h SigningKeys) PublicKeys() ([]atcrypto.PublicKey, error) {
	if len(h) == 0 {
		return nil, fmt.Errorf("the DID document names no atproto signing key")
	}
	out := make([]atcrypto.PublicKey, 0, len(h))
	for _, k := range h {
		pub, err := atcrypto.ParsePublicDIDKey(k.DIDKey)
		if err != nil {
			if k.Until.IsZero() {
				return nil, fmt.Errorf("parse the DID's signing key %s: %w", k.DIDKey, err)
			}
			continue
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		// Never an empty list: it would skip the signature check.
		return nil, fmt.Errorf("none of the DID's signing keys parses (%s)", h[0].DIDKey)
	}
	return out, nil
}
