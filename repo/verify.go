package repo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/ipfs/go-cid"
)

// BlobRef is a blob referenced by a record.
type BlobRef struct {
	CID      string
	MimeType string
	Size     int64 // -1 for legacy blob refs, which carry no size
}

// Summary describes a verified repo CAR.
type Summary struct {
	DID     string    // from the commit
	Rev     string    // commit rev (TID)
	Commit  string    // root commit CID
	Data    string    // MST root CID
	Records int       // records reachable from the MST and present in the CAR
	Blocks  int       // blocks in the CAR, duplicates included
	Bytes   int64     // CAR bytes read
	Blobs   []BlobRef // unique blobs referenced by records, sorted by CID (first MimeType/Size seen)
	// SignedBy is the did:key of the VerifyOptions.Keys entry that
	// verified the commit signature; "" when no key was given.
	SignedBy string

	// UndecodedRecords counts records (blocks with a $type) that may hold
	// a blob reference but failed strict atproto data-model decoding, or
	// nest deeper than maxRecordNesting and were not decoded at all. They
	// still count as present, but their blob references could not be
	// extracted, so Blobs may be short by whatever they reference. Zero for
	// any repo a PDS wrote.
	UndecodedRecords int
}

// VerifyOptions selects what VerifyCAR checks.
type VerifyOptions struct {
	// DID is the expected repo DID; "" skips the check.
	DID string
	// Keys are the keys that may have signed the commit, tried in order
	// (a DID's signing keys, newest first): the first that verifies it is
	// Summary.SignedBy, and none verifying it is an error naming them all.
	// Empty skips the signature check.
	Keys []atcrypto.PublicKey
	// Partial accepts a `since` diff CAR: the MST may be partial and records
	// may be absent. The commit structure and signature are still checked
	// and every block is still hashed. Records then counts, and Blobs then
	// lists, only the records present in the CAR.
	Partial bool
	// Records, if set, is called for every MST leaf whose record is in the
	// CAR, in key order, with path "collection/rkey" and the record CID. An
	// error it returns stops verification and is returned as is.
	Records func(path, cid string) error
	// CARFile, if set, is a file that holds the bytes r delivers, at the
	// same offsets, by the time r reaches its end: the file the export
	// stage writes the CAR to as it streams, or the file r reads. The MST
	// walk then reads each node back from it (and hashes it again) instead
	// of keeping every node in memory: most of a large repo's memory.
	CARFile string
}

// VerifyCAR reads a repo CAR stream once and checks that every block
// hashes to its CID, that the root is a well-formed commit for opts.DID
// signed by one of opts.Keys, that the MST is complete, and that every record the
// MST references is present; with opts.CARFile, it then reads the MST
// nodes back from that file. Failures are returned as *VerifyError naming
// the offending block or record. On error VerifyCAR stops reading r.
func VerifyCAR(ctx context.Context, r io.Reader, opts VerifyOptions) (*Summary, error) {
	it, err := newBlockIter(r)
	if err != nil {
		return nil, err
	}
	s := newScan(it.Roots[0], opts.CARFile != "")
	for {
		if s.blocks%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		c, data, err := it.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		s.blocks++
		if err := s.add(c, data, it.offset(data)); err != nil {
			return nil, err
		}
	}
	s.finish()
	commit, signedBy, err := s.checkCommit(opts)
	if err != nil {
		return nil, err
	}
	w := walker{ctx: ctx, s: s, partial: opts.Partial, fn: opts.Records}
	if opts.CARFile != "" {
		f, err := os.Open(opts.CARFile)
		if err != nil {
			return nil, fmt.Errorf("open the CAR to read the MST back: %w", err)
		}
		defer f.Close()
		w.car = f
	}
	if err := w.walk(commit.Data); err != nil {
		return nil, err
	}
	return &Summary{
		DID:              commit.DID,
		Rev:              commit.Rev,
		Commit:           s.root.String(),
		Data:             commit.Data.String(),
		Records:          w.records,
		Blocks:           s.blocks,
		Bytes:            it.bytesRead(),
		Blobs:            s.blobList(opts.Partial),
		SignedBy:         signedBy,
		UndecodedRecords: s.undecoded,
	}, nil
}

// VerifyCARFile runs VerifyCAR on the file at path, reading the MST back
// from it (opts.CARFile is path).
func VerifyCARFile(ctx context.Context, path string, opts VerifyOptions) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open CAR: %w", err)
	}
	defer f.Close()
	opts.CARFile = path
	return VerifyCAR(ctx, f, opts)
}

// RecordIndex returns path -> record CID for every record in a complete
// repo CAR, after verifying it (without DID or signature checks). It is
// meant for comparing two repos record by record; the map costs roughly
// 150 bytes per record.
func RecordIndex(ctx context.Context, r io.Reader) (map[string]string, *Summary, error) {
	idx := make(map[string]string)
	sum, err := VerifyCAR(ctx, r, VerifyOptions{Records: func(path, c string) error {
		idx[path] = c
		return nil
	}})
	if err != nil {
		return nil, nil, err
	}
	return idx, sum, nil
}

func decodeCommit(c cid.Cid, data []byte) (*indigorepo.Commit, error) {
	var commit indigorepo.Commit
	if err := commit.UnmarshalCBOR(bytes.NewReader(data)); err != nil {
		return nil, verifyErr(err, fmt.Sprintf("commit block %s does not decode", c))
	}
	return &commit, nil
}
