package repo

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/atdata"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/repo/mst"
	"github.com/ipfs/go-cid"
)

// scan holds what VerifyCAR keeps while streaming: the commit, MST node
// blocks (needed for the walk), and compact record and blob bookkeeping.
// Record bytes are never kept.
type scan struct {
	root   cid.Cid
	commit *indigorepo.Commit
	blocks int

	// records maps a record's digest to 0 (no blobs) or 1+index into recBlobs.
	records  map[digest]uint32
	recBlobs [][]int32
	nodes    map[digest][]byte   // raw MST node blocks
	other    map[digest]struct{} // dag-cbor blocks that are neither

	blobs     []BlobRef
	blobIdx   map[string]int32
	blobUsed  []bool
	undecoded int
}

func newScan(root cid.Cid) *scan {
	return &scan{
		root:    root,
		records: make(map[digest]uint32),
		nodes:   make(map[digest][]byte),
		other:   make(map[digest]struct{}),
		blobIdx: make(map[string]int32),
	}
}

// add classifies one block: the root commit, a record (atproto data with a
// $type), an MST node, or something else (ignored unless the MST points
// at it).
func (s *scan) add(c cid.Cid, data []byte) error {
	if c.Equals(s.root) {
		if s.commit != nil {
			return nil
		}
		commit, err := decodeCommit(c, data)
		if err != nil {
			return err
		}
		s.commit = commit
		return nil
	}
	d, ok := repoDigest(c)
	if !ok {
		return nil
	}
	if _, dup := s.records[d]; dup {
		return nil
	}
	if _, dup := s.nodes[d]; dup {
		return nil
	}
	// Cheap first pass: cbor-gen reads only the top-level $type and skips
	// the rest without building a map.
	var gr atdata.GenericRecord
	if gr.UnmarshalCBOR(bytes.NewReader(data)) == nil && gr.Type != "" {
		s.addRecord(d, data)
		return nil
	}
	if _, err := mst.NodeDataFromCBOR(bytes.NewReader(data)); err == nil {
		s.nodes[d] = bytes.Clone(data)
		return nil
	}
	s.other[d] = struct{}{}
	return nil
}

// mimeTypeKey is the CBOR text string "mimeType". Both blob forms (typed
// and legacy) require that key, so a record without these bytes cannot
// reference a blob and needs no full decode; most records skip it.
var mimeTypeKey = []byte("\x68mimeType")

func (s *scan) addRecord(d digest, data []byte) {
	s.records[d] = 0
	if !bytes.Contains(data, mimeTypeKey) {
		return
	}
	if !cborNestingWithin(data, maxRecordNesting) {
		s.undecoded++
		return
	}
	obj, err := atdata.UnmarshalCBOR(data)
	if err != nil {
		// Not valid strict atproto data (old or odd records): it still
		// counts as present, but its blob refs cannot be extracted.
		s.undecoded++
		return
	}
	found := atdata.ExtractBlobs(obj)
	if len(found) == 0 {
		return
	}
	refs := make([]int32, 0, len(found))
	for _, b := range found {
		if !b.Ref.IsDefined() {
			continue
		}
		key := b.Ref.String()
		i, ok := s.blobIdx[key]
		if !ok {
			i = int32(len(s.blobs))
			s.blobIdx[key] = i
			s.blobs = append(s.blobs, BlobRef{CID: key, MimeType: b.MimeType, Size: b.Size})
			s.blobUsed = append(s.blobUsed, false)
		}
		refs = append(refs, i)
	}
	s.recBlobs = append(s.recBlobs, refs)
	s.records[d] = uint32(len(s.recBlobs))
}

// markBlobs records that the record with digest d is reachable.
func (s *scan) markBlobs(d digest) {
	if i := s.records[d]; i > 0 {
		for _, b := range s.recBlobs[i-1] {
			s.blobUsed[b] = true
		}
	}
}

// blobList returns the unique blobs of reachable records (or of every
// record in the CAR, for a partial diff), sorted by CID.
func (s *scan) blobList(all bool) []BlobRef {
	out := make([]BlobRef, 0, len(s.blobs))
	for i, b := range s.blobs {
		if all || s.blobUsed[i] {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CID < out[j].CID })
	return out
}

// checkCommit checks the root commit's presence, structure, DID and
// signature, and returns which of opts.Keys signed it.
func (s *scan) checkCommit(opts VerifyOptions) (*indigorepo.Commit, string, error) {
	c := s.commit
	if c == nil {
		return nil, "", verifyErr(nil, fmt.Sprintf("commit block %s missing from CAR", s.root))
	}
	if err := c.VerifyStructure(); err != nil {
		return nil, "", verifyErr(err, fmt.Sprintf("commit %s is malformed", s.root))
	}
	if opts.DID != "" && c.DID != opts.DID {
		return nil, "", verifyErr(nil, fmt.Sprintf("commit DID %s does not match expected %s", c.DID, opts.DID))
	}
	if _, ok := repoDigest(c.Data); !ok {
		return nil, "", verifyErr(nil, fmt.Sprintf("commit data %s is not a dag-cbor sha2-256 CID", c.Data))
	}
	if len(opts.Keys) == 0 {
		return c, "", nil
	}
	signer, err := commitSigner(c, opts.Keys)
	if err != nil {
		return nil, "", err
	}
	return c, signer, nil
}

// commitSigner returns the did:key of the first of keys that verifies the
// commit's signature. When none does, the error names every key tried and
// wraps the first key's failure.
func commitSigner(c *indigorepo.Commit, keys []atcrypto.PublicKey) (string, error) {
	var first error
	names := make([]string, len(keys))
	for i, k := range keys {
		err := c.VerifySignature(k)
		if err == nil {
			return k.DIDKey(), nil
		}
		if first == nil {
			first = err
		}
		names[i] = k.DIDKey()
	}
	if len(keys) == 1 {
		return "", verifyErr(first, fmt.Sprintf("commit signature does not verify against %s", names[0]))
	}
	return "", verifyErr(first, fmt.Sprintf("commit signature does not verify against any of the %d keys tried (%s)", len(keys), strings.Join(names, ", ")))
}
