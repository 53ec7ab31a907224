package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

// maxTreeDepth bounds recursion on a hostile CAR. Real MSTs are a handful of
// levels deep (fanout 16); heights come from leading zero bits of SHA-256.
const maxTreeDepth = 128

// walker visits the MST from the stored node blocks in key order. It is our
// own walk rather than mst.LoadTreeFromStore + Walk because indigo's loader
// silently skips missing nodes and would decode every node into memory at
// once; this one names the missing node and decodes one node at a time.
// It also checks what a valid MST guarantees: keys strictly ascending,
// every key in a node at the node's height, children one level down.
type walker struct {
	ctx     context.Context
	s       *scan
	partial bool
	fn      func(path, cid string) error
	car     io.ReaderAt // where nodes are read back from, when s.readBack
	buf     []byte

	lastKey []byte
	records int
	visited int
}

func (w *walker) walk(root cid.Cid) error {
	return w.node(root, -1, 0)
}

func (w *walker) node(c cid.Cid, height, depth int) error {
	if depth > maxTreeDepth {
		return verifyErr(nil, fmt.Sprintf("MST node %s: tree deeper than %d levels", c, maxTreeDepth))
	}
	w.visited++
	if w.visited%1024 == 0 {
		if err := w.ctx.Err(); err != nil {
			return err
		}
	}
	d, ok := repoDigest(c)
	if !ok {
		return verifyErr(nil, fmt.Sprintf("MST node %s: not a dag-cbor sha2-256 CID", c))
	}
	loc, ok := w.s.nodes.get(d)
	if !ok {
		if w.partial {
			return nil
		}
		return verifyErr(nil, fmt.Sprintf("MST node %s missing", c))
	}
	raw, err := w.nodeBytes(c, d, loc)
	if err != nil {
		return err
	}
	nd, err := mst.NodeDataFromCBOR(bytes.NewReader(raw))
	if err != nil {
		return verifyErr(err, fmt.Sprintf("MST node %s does not decode", c))
	}

	// Reconstruct keys and check the node's height first, so children
	// can be told which level they must be on.
	keys := make([][]byte, len(nd.Entries))
	var prev []byte
	for i, e := range nd.Entries {
		if e.PrefixLen < 0 || int(e.PrefixLen) > len(prev) {
			return verifyErr(nil, fmt.Sprintf("MST node %s: entry %d has prefix length %d beyond previous key", c, i, e.PrefixLen))
		}
		k := make([]byte, 0, int(e.PrefixLen)+len(e.KeySuffix))
		k = append(append(k, prev[:e.PrefixLen]...), e.KeySuffix...)
		if !mst.IsValidKey(k) {
			return verifyErr(nil, fmt.Sprintf("MST node %s: invalid key %q", c, k))
		}
		h := mst.HeightForKey(k)
		if height < 0 {
			height = h
		} else if h != height {
			return verifyErr(nil, fmt.Sprintf("MST node %s: key %s at height %d in a node of height %d", c, k, h, height))
		}
		keys[i] = k
		prev = k
	}
	hasChild := nd.Left != nil
	for _, e := range nd.Entries {
		hasChild = hasChild || e.Right != nil
	}
	childHeight := -1 // unknown: a key-less node at the top of the tree
	if height == 0 && hasChild {
		return verifyErr(nil, fmt.Sprintf("MST node %s: height 0 node has children", c))
	}
	if height > 0 {
		childHeight = height - 1
	}

	if nd.Left != nil {
		if err := w.node(*nd.Left, childHeight, depth+1); err != nil {
			return err
		}
	}
	for i, e := range nd.Entries {
		if err := w.leaf(keys[i], e.Value); err != nil {
			return err
		}
		if e.Right != nil {
			if err := w.node(*e.Right, childHeight, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeBytes returns the bytes of the node c, with digest d and nodes
// value loc, until the next call.
func (w *walker) nodeBytes(c cid.Cid, d digest, loc uint64) ([]byte, error) {
	if !w.s.readBack {
		return w.s.nodeMem[loc], nil
	}
	off, n := int64(loc>>24), int(loc&(maxNodeLength-1))
	if cap(w.buf) < n {
		w.buf = make([]byte, n, max(n, 4<<10))
	}
	raw := w.buf[:n]
	if _, err := w.car.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("read MST node %s back from the CAR file at %d: %w", c, off, err)
	}
	// Hashed again: the walk trusts only bytes that match their CID.
	if sha256.Sum256(raw) != d {
		return nil, verifyErr(nil, fmt.Sprintf("MST node %s: the CAR file's bytes at %d do not hash to it (the file changed as it was verified)", c, off))
	}
	return raw, nil
}

func (w *walker) leaf(key []byte, val cid.Cid) error {
	if w.lastKey != nil && bytes.Compare(key, w.lastKey) <= 0 {
		return verifyErr(nil, fmt.Sprintf("MST key %s out of order after %s", key, w.lastKey))
	}
	w.lastKey = key
	d, ok := repoDigest(val)
	if !ok {
		return verifyErr(nil, fmt.Sprintf("record %s (%s): not a dag-cbor sha2-256 CID", key, val))
	}
	if !w.s.records.has(d) {
		if w.partial {
			return nil
		}
		if w.s.nodes.has(d) || w.s.other.has(d) {
			return verifyErr(nil, fmt.Sprintf("record %s (%s) is not a record", key, val))
		}
		return verifyErr(nil, fmt.Sprintf("record %s (%s) missing from CAR", key, val))
	}
	w.records++
	w.s.markBlobs(d)
	if w.fn != nil {
		return w.fn(string(key), val.String())
	}
	return nil
}
