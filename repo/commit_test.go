package repo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/repo/repotest"
)

// A sync.getBlocks answer names no root (the reference PDS sends
// "roots": []): the commit is found by its CID, its data read, and its
// signature checked against a key.
func TestCommitFromRootlessCAR(t *testing.T) {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	_, r, err := repotest.BuildCAR(5, 0, key, "did:plc:abc")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeRootless(&buf, r.Blocks[0]); err != nil {
		t.Fatal(err)
	}
	c, err := CommitFromCAR(context.Background(), buf.Bytes(), r.CommitCID.String())
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != r.Data.String() || c.Rev != r.Rev || c.DID != "did:plc:abc" {
		t.Fatalf("commit %+v, want data %s rev %s", c, r.Data, r.Rev)
	}
	pub, _ := key.PublicKey()
	if err := c.VerifySignature(pub); err != nil {
		t.Fatalf("signature: %v", err)
	}
	other, _ := atcrypto.GeneratePrivateKeyK256()
	otherPub, _ := other.PublicKey()
	if err := c.VerifySignature(otherPub); err == nil || !strings.Contains(err.Error(), "is not signed by") {
		t.Fatalf("a stranger's key: %v", err)
	}
	if _, err := CommitFromCAR(context.Background(), buf.Bytes(), r.Data.String()); err == nil {
		t.Fatal("a CID the answer does not hold was found")
	}
}

// writeRootless writes a CARv1 whose header has no roots, with one block.
func writeRootless(buf *bytes.Buffer, b repotest.Block) error {
	h := []byte{0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01}
	buf.WriteByte(byte(len(h)))
	buf.Write(h)
	cb := b.CID.Bytes()
	n := len(cb) + len(b.Data)
	for n >= 0x80 {
		buf.WriteByte(byte(n) | 0x80)
		n >>= 7
	}
	buf.WriteByte(byte(n))
	buf.Write(cb)
	buf.Write(b.Data)
	return nil
}
