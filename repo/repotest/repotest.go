// Package repotest builds real, signed atproto repo CARs in memory for
// tests: posts (some with image blobs) in an MST, a commit signed with the
// given key, written as a CARv1 with the commit as root. Tests in other
// packages use BuildCAR; tests that need to damage a CAR use Repo and
// WriteCAR with a block filter.
package repotest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Kind says what a block is.
type Kind int

// Block kinds.
const (
	KindCommit Kind = iota
	KindNode
	KindRecord
)

// Block is one block of the repo.
type Block struct {
	CID  cid.Cid
	Data []byte
	Kind Kind
	Path string // "collection/rkey", for records
}

// Repo is an in-memory repo under construction. After Commit, Blocks holds
// the commit, the MST nodes (pre-order, root first) and the records.
type Repo struct {
	DID string
	Key atcrypto.PrivateKey

	CommitCID cid.Cid
	Data      cid.Cid
	Rev       string
	Blocks    []Block

	Records map[string]cid.Cid // path -> record CID
	Blobs   map[string][]byte  // blob CID -> content

	records map[string][]byte // path -> record bytes
	tree    mst.Tree
	clock   *syntax.TIDClock
	rng     *rand.Rand
}

// New returns an empty repo for did, signed with key.
func New(did string, key atcrypto.PrivateKey) *Repo {
	return &Repo{
		DID:     did,
		Key:     key,
		Records: make(map[string]cid.Cid),
		Blobs:   make(map[string][]byte),
		records: make(map[string][]byte),
		tree:    mst.NewEmptyTree(),
		clock:   syntax.NewTIDClock(0),
		rng:     rand.New(rand.NewPCG(1, 2)),
	}
}

var (
	cborPrefix = cid.NewPrefixV1(cid.DagCBOR, multihash.SHA2_256)
	rawPrefix  = cid.NewPrefixV1(cid.Raw, multihash.SHA2_256)
)

// AddPosts adds n app.bsky.feed.post records. The first nBlobs of them
// embed an image with a new, distinct blob (1-4 KiB of random bytes); if
// nBlobs > 0 and n > nBlobs, one more post embeds the first new blob
// again, so blob de-duplication is exercised.
func (r *Repo) AddPosts(n, nBlobs int) error {
	var first *atdata.Blob
	for i := 0; i < n; i++ {
		rec := map[string]any{
			"$type":     "app.bsky.feed.post",
			"text":      fmt.Sprintf("post number %d", len(r.records)),
			"createdAt": time.Unix(1700000000+int64(len(r.records)), 0).UTC().Format(time.RFC3339),
			"langs":     []any{"en"},
		}
		var img *atdata.Blob
		switch {
		case i < nBlobs:
			b, err := r.addBlob()
			if err != nil {
				return err
			}
			img = &b
			if first == nil {
				first = &b
			}
		case i == nBlobs && first != nil:
			img = first
		}
		if img != nil {
			rec["embed"] = map[string]any{
				"$type":  "app.bsky.embed.images",
				"images": []any{map[string]any{"alt": "test image", "image": *img}},
			}
		}
		path := "app.bsky.feed.post/" + r.clock.Next().String()
		if err := r.PutRecord(path, rec); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repo) addBlob() (atdata.Blob, error) {
	data := make([]byte, 1024+r.rng.IntN(3072))
	for i := range data {
		data[i] = byte(r.rng.Uint32())
	}
	c, err := rawPrefix.Sum(data)
	if err != nil {
		return atdata.Blob{}, err
	}
	r.Blobs[c.String()] = data
	return atdata.Blob{Ref: atdata.CIDLink(c), MimeType: "image/jpeg", Size: int64(len(data))}, nil
}

// PutRecord adds or replaces the record at path ("collection/rkey").
func (r *Repo) PutRecord(path string, rec map[string]any) error {
	b, err := atdata.MarshalCBOR(rec)
	if err != nil {
		return fmt.Errorf("encode record %s: %w", path, err)
	}
	c, err := cborPrefix.Sum(b)
	if err != nil {
		return err
	}
	if _, err := r.tree.Insert([]byte(path), c); err != nil {
		return fmt.Errorf("insert %s: %w", path, err)
	}
	r.records[path] = b
	r.Records[path] = c
	return nil
}

// Commit signs a new commit over the current MST and rebuilds Blocks.
func (r *Repo) Commit() error {
	root, err := r.tree.RootCID()
	if err != nil {
		return fmt.Errorf("compute MST root: %w", err)
	}
	commit := indigorepo.Commit{DID: r.DID, Version: indigorepo.ATPROTO_REPO_VERSION, Data: *root, Rev: r.clock.Next().String()}
	if err := commit.Sign(r.Key); err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	var buf bytes.Buffer
	if err := commit.MarshalCBOR(&buf); err != nil {
		return fmt.Errorf("encode commit: %w", err)
	}
	cc, err := cborPrefix.Sum(buf.Bytes())
	if err != nil {
		return err
	}
	blocks := []Block{{CID: cc, Data: buf.Bytes(), Kind: KindCommit}}
	if err := appendNodes(r.tree.Root, &blocks); err != nil {
		return err
	}
	// Records in key order, as the MST walk would find them.
	if err := r.tree.Walk(func(k []byte, v cid.Cid) error {
		blocks = append(blocks, Block{CID: v, Data: r.records[string(k)], Kind: KindRecord, Path: string(k)})
		return nil
	}); err != nil {
		return err
	}
	r.CommitCID, r.Data, r.Rev, r.Blocks = cc, *root, commit.Rev, blocks
	return nil
}

func appendNodes(n *mst.Node, out *[]Block) error {
	nd := n.NodeData()
	b, c, err := nd.Bytes()
	if err != nil {
		return err
	}
	*out = append(*out, Block{CID: *c, Data: b, Kind: KindNode})
	for _, e := range n.Entries {
		if e.Child != nil {
			if err := appendNodes(e.Child, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteCAR writes the committed repo as a CARv1 rooted at the commit,
// with only the blocks keep accepts (nil keeps all).
func (r *Repo) WriteCAR(w io.Writer, keep func(Block) bool) error {
	var blocks []Block
	for _, b := range r.Blocks {
		if keep == nil || keep(b) {
			blocks = append(blocks, b)
		}
	}
	return WriteCAR(w, r.CommitCID, blocks)
}

// CAR returns the committed repo as CARv1 bytes.
func (r *Repo) CAR() []byte {
	var buf bytes.Buffer
	_ = r.WriteCAR(&buf, nil) // a bytes.Buffer cannot fail
	return buf.Bytes()
}

// NodeBlocks returns the MST node blocks (root first).
func (r *Repo) NodeBlocks() []Block {
	var out []Block
	for _, b := range r.Blocks {
		if b.Kind == KindNode {
			out = append(out, b)
		}
	}
	return out
}

// WriteCAR writes a CARv1 with a single root and the given blocks.
func WriteCAR(w io.Writer, root cid.Cid, blocks []Block) error {
	// DAG-CBOR header {"roots": [root], "version": 1}, keys in canonical
	// (length-first) order, the CID as tag 42 bytes with a 0x00 prefix.
	rb := append([]byte{0x00}, root.Bytes()...)
	var h []byte
	h = append(h, 0xa2, 0x65)
	h = append(h, "roots"...)
	h = append(h, 0x81, 0xd8, 0x2a)
	h = appendCBORBytesHeader(h, len(rb))
	h = append(h, rb...)
	h = append(h, 0x67)
	h = append(h, "version"...)
	h = append(h, 0x01)
	out := binary.AppendUvarint(nil, uint64(len(h)))
	if _, err := w.Write(append(out, h...)); err != nil {
		return err
	}
	for _, b := range blocks {
		cb := b.CID.Bytes()
		sec := binary.AppendUvarint(nil, uint64(len(cb)+len(b.Data)))
		sec = append(append(sec, cb...), b.Data...)
		if _, err := w.Write(sec); err != nil {
			return err
		}
	}
	return nil
}

func appendCBORBytesHeader(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}

// BuildCAR builds a committed repo of nRecords posts, nBlobs of them with
// distinct image blobs, signed with key, and returns its CAR bytes and the
// Repo (for the expected CIDs, records and blob contents).
func BuildCAR(nRecords, nBlobs int, key atcrypto.PrivateKey, did string) ([]byte, *Repo, error) {
	if nBlobs > nRecords {
		return nil, nil, fmt.Errorf("nBlobs %d > nRecords %d", nBlobs, nRecords)
	}
	r := New(did, key)
	if err := r.AddPosts(nRecords, nBlobs); err != nil {
		return nil, nil, err
	}
	if err := r.Commit(); err != nil {
		return nil, nil, err
	}
	return r.CAR(), r, nil
}
