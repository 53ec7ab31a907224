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

// scan holds what VerifyCAR keeps while streaming: the commit, compact
// indexes of the blocks by kind (blockIndex), and the blob bookkeeping of
// records. Record bytes are never kept; MST node bytes are kept only when
// the CAR cannot be read back (VerifyOptions.CARFile).
type scan struct {
	root   cid.Cid
	commit *indigorepo.Commit
	blocks int

	records *blockIndex[struct{}]
	// recInfo holds the records that reference blobs or failed strict
	// decoding: recUndecoded, or 1 + the index in refs of their blob count,
	// which their blobs (indexes into blobs) follow.
	recInfo *blockIndex[uint32]
	refs    []int32
	// nodes holds each MST node's offset<<24 | length in the CAR, when it
	// can be read back, or else its index in nodeMem.
	nodes    *blockIndex[uint64]
	readBack bool
	nodeMem  [][]byte
	other    *blockIndex[struct{}] // dag-cbor blocks that are neither

	blobs     []BlobRef
	blobIdx   map[string]int32
	blobUsed  []bool
	mimeTypes map[string]string // one copy of each
	undecoded int
}

const (
	recUndecoded uint32 = 1 << 31
	// maxNodeOffset bounds the offsets nodes can hold (40 bits: 1 TiB).
	maxNodeOffset = 1 << 40
	maxNodeLength = 1 << 24
)

func newScan(root cid.Cid, readBack bool) *scan {
	return &scan{
		root:      root,
		records:   newBlockIndex[struct{}](),
		recInfo:   newBlockIndex[uint32](),
		nodes:     newBlockIndex[uint64](),
		readBack:  readBack,
		other:     newBlockIndex[struct{}](),
		blobIdx:   make(map[string]int32),
		mimeTypes: make(map[string]string),
	}
}

// add classifies one block, whose bytes start at offset off of the CAR:
// the root commit, a record (atproto data with a $type), an MST node, or
// something else (ignored unless the MST points at it).
func (s *scan) add(c cid.Cid, data []byte, off int64) error {
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
	// Cheap first pass: cbor-gen reads only the top-level $type and skips
	// the rest without building a map.
	var gr atdata.GenericRecord
	if gr.UnmarshalCBOR(bytes.NewReader(data)) == nil && gr.Type != "" {
		s.records.add(d, struct{}{})
		if info := s.addRecord(data); info != 0 {
			s.recInfo.add(d, info)
		}
		return nil
	}
	if _, err := mst.NodeDataFromCBOR(bytes.NewReader(data)); err == nil {
		if !s.readBack {
			s.nodes.add(d, uint64(len(s.nodeMem)))
			s.nodeMem = append(s.nodeMem, bytes.Clone(data))
			return nil
		}
		if off < 0 || off >= maxNodeOffset || len(data) >= maxNodeLength {
			return verifyErr(nil, fmt.Sprintf("MST node %s: offset %d or length %d beyond the index", c, off, len(data)))
		}
		s.nodes.add(d, uint64(off)<<24|uint64(len(data)))
		return nil
	}
	s.other.add(d, struct{}{})
	return nil
}

// finish ends the stream: the indexes are sorted, and the records that
// failed strict decoding are counted once each.
func (s *scan) finish() {
	for _, x := range []interface{ finish() }{s.records, s.recInfo, s.nodes, s.other} {
		x.finish()
	}
	s.recInfo.each(func(v uint32) {
		if v == recUndecoded {
			s.undecoded++
		}
	})
}

// mimeTypeKey is the CBOR text string "mimeType". Both blob forms (typed
// and legacy) require that key, so a record without these bytes cannot
// reference a blob and needs no full decode; most records skip it.
var mimeTypeKey = []byte("\x68mimeType")

// addRecord extracts a record's blob references and returns its recInfo
// value, 0 for none.
func (s *scan) addRecord(data []byte) uint32 {
	if !bytes.Contains(data, mimeTypeKey) {
		return 0
	}
	if !cborNestingWithin(data, maxRecordNesting) {
		// Too deep to decode within bounded memory: present, undecoded.
		return recUndecoded
	}
	obj, err := atdata.UnmarshalCBOR(data)
	if err != nil {
		// Not valid strict atproto data (old or odd records): it still
		// counts as present, but its blob refs cannot be extracted.
		return recUndecoded
	}
	found := atdata.ExtractBlobs(obj)
	start := len(s.refs)
	s.refs = append(s.refs, 0)
	for _, b := range found {
		if !b.Ref.IsDefined() {
			continue
		}
		key := b.Ref.String()
		i, ok := s.blobIdx[key]
		if !ok {
			i = int32(len(s.blobs))
			s.blobIdx[key] = i
			mime, ok := s.mimeTypes[b.MimeType]
			if !ok {
				mime = b.MimeType
				s.mimeTypes[mime] = mime
			}
			s.blobs = append(s.blobs, BlobRef{CID: key, MimeType: mime, Size: b.Size})
			s.blobUsed = append(s.blobUsed, false)
		}
		s.refs = append(s.refs, i)
	}
	if len(s.refs) == start+1 {
		s.refs = s.refs[:start]
		return 0
	}
	s.refs[start] = int32(len(s.refs) - start - 1)
	return uint32(start) + 1
}

// markBlobs records that the record with digest d is reachable.
func (s *scan) markBlobs(d digest) {
	v, ok := s.recInfo.get(d)
	if !ok || v == recUndecoded {
		return
	}
	i := int(v - 1)
	for _, b := range s.refs[i+1 : i+1+int(s.refs[i])] {
		s.blobUsed[b] = true
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
