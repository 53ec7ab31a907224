package fakenet

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/plc"
)

// Key is a fresh secp256k1 key for a test: an account's signing key, a
// user's or a PDS's rotation key.
func Key(t testing.TB) *atcrypto.PrivateKeyK256 {
	t.Helper()
	k, err := plc.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// DIDKey is k's public did:key, as a DID document lists it.
func DIDKey(t testing.TB, k atcrypto.PrivateKey) string {
	t.Helper()
	d, err := plc.DIDKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
