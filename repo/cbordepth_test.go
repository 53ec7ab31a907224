package repo

import (
	"bytes"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestCBORNestingWithin(t *testing.T) {
	nested := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x00) }
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"scalar", []byte{0x01}, true},
		{"empty map", []byte{0xa0}, true},
		{"map of string to array", []byte{0xa1, 0x61, 'a', 0x82, 0x01, 0x02}, true},
		{"tagged CID in a map", []byte{0xa1, 0x61, 'l', 0xd8, 0x2a, 0x42, 0x00, 0x01}, true},
		{"at the limit", nested(4), true},
		{"beyond the limit", nested(5), false},
		{"trailing bytes", []byte{0x01, 0x02}, false},
		{"truncated array", []byte{0x82, 0x01}, false},
		{"string longer than the input", []byte{0x5a, 0xff, 0xff, 0xff, 0xff}, false},
		{"map claiming 2^32 entries", []byte{0xbb, 0, 0, 0, 1, 0, 0, 0, 0}, false},
		{"indefinite array", []byte{0x9f, 0x01, 0xff}, false},
		{"empty", nil, false},
	} {
		if got := cborNestingWithin(tc.data, 4); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDeepRecordIsNotDecoded is the crasher FuzzScanBlock found: a record
// with a $type and a mimeType key whose value is 100,000 nested arrays
// made indigo's atdata decoder allocate 440 MB. It is now counted as an
// undecoded record without being decoded.
func TestDeepRecordIsNotDecoded(t *testing.T) {
	rec := append([]byte{0xa2, 0x65, '$', 't', 'y', 'p', 'e', 0x61, 'x', 0x68}, "mimeType"...)
	rec = append(append(rec, bytes.Repeat([]byte{0x81}, 100000)...), 0x00)
	c, err := cid.NewPrefixV1(cid.DagCBOR, multihash.SHA2_256).Sum(rec)
	if err != nil {
		t.Fatal(err)
	}
	s := newScan(cid.Undef, false)
	fuzzcheck.Alloc(t, len(rec), func() {
		if err := s.add(c, rec, 0); err != nil {
			t.Fatal(err)
		}
	})
	s.finish()
	d, _ := repoDigest(c)
	if !s.records.has(d) || s.undecoded != 1 {
		t.Errorf("record kept %v, undecoded %d; want true and 1", s.records.has(d), s.undecoded)
	}
}
