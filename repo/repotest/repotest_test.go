package repotest

import (
	"bytes"
	"context"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
)

// TestBuildCARLoadsInIndigo checks the helper's output independently of
// package repo: indigo must load it, find every record and accept the
// signature.
func TestBuildCARLoadsInIndigo(t *testing.T) {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	car, r, err := BuildCAR(250, 4, key, "did:plc:abcdefghijklmnopqrstuvwx")
	if err != nil {
		t.Fatal(err)
	}
	commit, ir, err := indigorepo.LoadRepoFromCAR(context.Background(), bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := commit.VerifySignature(pub); err != nil {
		t.Fatal(err)
	}
	if commit.Rev != r.Rev || commit.Data != r.Data || commit.DID != r.DID {
		t.Fatalf("commit = %+v, repo rev %s data %s", commit, r.Rev, r.Data)
	}
	if ir.MST.IsPartial() {
		t.Fatal("MST partial")
	}
	if len(r.Blobs) != 4 || len(r.Records) != 250 {
		t.Fatalf("blobs %d records %d", len(r.Blobs), len(r.Records))
	}
	for path, c := range r.Records {
		got, err := ir.MST.Get([]byte(path))
		if err != nil || got == nil || !got.Equals(c) {
			t.Fatalf("record %s: indigo has %v (%v), want %s", path, got, err, c)
		}
	}
}
