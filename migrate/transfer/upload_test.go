package transfer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/repo"
)

func rawCID(t *testing.T, data []byte) string {
	t.Helper()
	h, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h).String()
}

// TestUploadOrder: blobs already downloaded go first, then the rest in the
// order the prefetcher fetches them (the repo's), and blobs the repo list
// does not know come last in the new PDS's order.
func TestUploadOrder(t *testing.T) {
	store, err := repo.OpenBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var refs []repo.BlobRef
	var data [][]byte
	for i := range 5 {
		d := []byte(fmt.Sprintf("blob %d", i))
		data = append(data, d)
		refs = append(refs, repo.BlobRef{CID: rawCID(t, d), Size: int64(len(d))})
	}
	// Blob 3 is on disk already.
	if _, err := store.Write(refs[3].CID, bytes.NewReader(data[3]), refs[3].Size); err != nil {
		t.Fatal(err)
	}

	unknown := rawCID(t, []byte("not in the repo list"))
	missing := []pds.MissingBlob{{CID: unknown}, {CID: refs[4].CID}, {CID: refs[0].CID}, {CID: refs[3].CID}, {CID: refs[2].CID}}
	got := uploadOrder(missing, refs, store)
	want := []string{refs[3].CID, refs[0].CID, refs[2].CID, refs[4].CID, unknown}
	if len(got) != len(want) {
		t.Fatalf("got %d blobs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].CID != want[i] {
			t.Errorf("position %d: got %s, want %s", i, got[i].CID, want[i])
		}
	}
}
