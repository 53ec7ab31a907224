package migrate

import (
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/plc"
)

// k256 is a fresh key: a user's rotation key or an account's signing key.
func k256(t *testing.T) *atcrypto.PrivateKeyK256 {
	t.Helper()
	k, err := plc.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// didKey is k's public did:key, as a DID document lists it.
func didKey(t *testing.T, k atcrypto.PrivateKey) string {
	t.Helper()
	d, err := plc.DIDKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
