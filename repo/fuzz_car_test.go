package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
	"github.com/atmigrate/atmigrate/repo/repotest"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// carSeeds are real-looking CARs and the edge cases that matter to a
// reader: truncation, a section or header whose length varint claims 4 GiB,
// a header claiming go-car's own 32 MiB default, a CARv2 pragma.
func carSeeds(f *testing.F) map[string][]byte {
	r, _ := buildRepo(f, 8, 2)
	car := r.CAR()
	hdrLen, n := binary.Uvarint(car)
	body := car[n+int(hdrLen):]
	header := car[:n+int(hdrLen)]
	return map[string][]byte{
		"repo":                  car,
		"truncated-half":        car[:len(car)/2],
		"truncated-header":      car[:n+int(hdrLen)/2],
		"header-only":           header,
		"block-len-4GiB":        append(bytes.Clone(header), binary.AppendUvarint(nil, 4<<30)...),
		"block-len-4GiB-at-end": append(bytes.Clone(car), binary.AppendUvarint(nil, 4<<30)...),
		"header-len-4GiB":       binary.AppendUvarint(nil, 4<<30),
		"header-len-32MiB":      append(binary.AppendUvarint(nil, 32<<20), body...),
		"block-len-zero":        append(bytes.Clone(header), 0x00),
		"carv2-pragma":          {0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02},
		"empty":                 {},
	}
}

// FuzzReadCAR feeds the CAR block reader (header, then section by section)
// arbitrary bytes. Every block it returns hashes to its CID, it never
// claims to have read more than it was given, every failure is a
// *VerifyError, and no length prefix makes it allocate beyond the budget.
func FuzzReadCAR(f *testing.F) {
	for name, data := range carSeeds(f) {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() {
			err := readAllBlocks(t, data)
			var ve *VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("error is not a *VerifyError: %T %v", err, err)
			}
		})
	})
}

// readAllBlocks reads every block of data, checking each one's hash
// independently of the reader.
func readAllBlocks(t *testing.T, data []byte) error {
	it, err := openBlocks(bytes.NewReader(data), len(data))
	if err != nil {
		return err
	}
	for {
		c, block, err := it.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		got, err := c.Prefix().Sum(block)
		if err != nil || !got.Equals(c) {
			t.Fatalf("block %s returned with a hash that does not match (%v)", c, err)
		}
		if uint64(len(block)) > maxBlockSize {
			t.Fatalf("block of %d bytes passed the %d limit", len(block), maxBlockSize)
		}
	}
	if it.bytesRead() > int64(len(data)) {
		t.Fatalf("read %d bytes of a %d byte input", it.bytesRead(), len(data))
	}
	return nil
}

// blockSeeds are the blocks of a real repo (records with and without
// blobs, MST nodes, the commit) and hostile DAG-CBOR: deep nesting, a
// byte string claiming 4 GiB, a map claiming 2^32 entries.
func blockSeeds(f *testing.F) map[string][]byte {
	r, _ := buildRepo(f, 20, 3)
	seeds := map[string][]byte{}
	var buf bytes.Buffer
	err := r.WriteCAR(&buf, func(b repotest.Block) bool {
		seeds[fuzzcheck.Name("block", b.Data)] = b.Data
		return true
	})
	if err != nil {
		f.Fatal(err)
	}
	deep := bytes.Repeat([]byte{0x81}, 30000) // [[[[…, 130 MB in atdata unbounded
	deepRecord := append([]byte{0xa2, 0x65, '$', 't', 'y', 'p', 'e', 0x61, 'x', 0x68}, "mimeType"...)
	deepRecord = append(deepRecord, deep...)
	seeds["deep-arrays"] = append(deep, 0x00)
	seeds["deep-record-with-mimetype"] = append(deepRecord, 0x00)
	seeds["bytes-len-4GiB"] = []byte{0xa1, 0x61, 'e', 0x5a, 0xff, 0xff, 0xff, 0xff}
	seeds["map-len-2^32"] = []byte{0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}
	seeds["record-len-4GiB-mimetype"] = append([]byte{0xa2, 0x65, '$', 't', 'y', 'p', 'e', 0x61, 'x', 0x68},
		append([]byte("mimeType"), 0x7a, 0xff, 0xff, 0xff, 0xff)...)
	return seeds
}

// FuzzScanBlock feeds one DAG-CBOR block, as a server's CAR holds it, to
// the scan that classifies records, MST nodes and blob refs, then walks
// the MST from it as a partial repo. Every blob ref found has a CID that
// parses; no length inside the CBOR makes it allocate beyond the budget;
// nesting does not overflow the stack.
func FuzzScanBlock(f *testing.F) {
	for name, data := range blockSeeds(f) {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cid.NewPrefixV1(cid.DagCBOR, multihash.SHA2_256).Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		fuzzcheck.Alloc(t, len(data), func() {
			// As the root: the commit decode and its structure check.
			s := newScan(c, false)
			if err := s.add(c, data, 0); err == nil && s.commit != nil {
				_, _, _ = s.checkCommit(VerifyOptions{})
			}
			// As any other block: a record's blob refs or an MST node.
			s = newScan(cid.Undef, false)
			if err := s.add(c, data, 0); err != nil {
				t.Fatalf("a non-root block is refused: %v", err)
			}
			for _, b := range s.blobs {
				if _, err := cid.Decode(b.CID); err != nil {
					t.Fatalf("blob ref %q does not parse: %v", b.CID, err)
				}
			}
			s.finish()
			w := walker{ctx: context.Background(), s: s, partial: true}
			_ = w.walk(c)
		})
	})
}
