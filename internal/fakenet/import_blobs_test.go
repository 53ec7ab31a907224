package fakenet_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// ExpectImportedBlobs: an import makes the new PDS expect the blobs its
// records reference, listed as missing until uploaded; a later import adds
// its own. Without the knob an import expects nothing.
func TestExpectImportedBlobs(t *testing.T) {
	ctx := context.Background()
	for _, on := range []bool{true, false} {
		p := fakenet.NewPDS(t, fakenet.NewPLC(t), fakenet.PDSOptions{ExpectImportedBlobs: on})
		did := p.AddAccount(fakenet.AccountSpec{Handle: "carol.test", Password: "pw"})
		c := pds.New(p.URL, pds.Options{})
		if _, err := c.Login(ctx, did, "pw", ""); err != nil {
			t.Fatal(err)
		}
		r := repotest.New(did, p.SigningKeyFor(did))
		importPosts := func(n, blobs int) {
			t.Helper()
			if err := r.AddPosts(n, blobs); err != nil {
				t.Fatal(err)
			}
			if err := r.Commit(); err != nil {
				t.Fatal(err)
			}
			car := r.CAR()
			if err := c.ImportRepo(ctx, bytes.NewReader(car), int64(len(car)), nil); err != nil {
				t.Fatal(err)
			}
		}
		missing := func() []string {
			t.Helper()
			m, err := c.ListMissingBlobs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var cids []string
			for _, b := range m {
				if !strings.HasPrefix(b.RecordURI, "at://"+did+"/app.bsky.feed.post/bafyrei") {
					t.Errorf("record URI %q", b.RecordURI)
				}
				cids = append(cids, b.CID)
			}
			return cids
		}

		importPosts(5, 2)
		got := missing()
		if !on {
			if len(got) != 0 {
				t.Fatalf("without the knob: missing %v", got)
			}
			continue
		}
		if len(got) != 2 || len(r.Blobs) != 2 {
			t.Fatalf("missing %v, want the 2 blobs of %v", got, r.Blobs)
		}
		for cid := range r.Blobs {
			if !slices.Contains(got, cid) {
				t.Fatalf("blob %s not listed as missing: %v", cid, got)
			}
		}
		uploaded := got[0]
		if _, err := c.UploadBlob(ctx, bytes.NewReader(r.Blobs[uploaded]), int64(len(r.Blobs[uploaded])), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		importPosts(2, 1) // a later difference with one more blob
		if got := missing(); len(got) != 2 || slices.Contains(got, uploaded) {
			t.Fatalf("after an upload and a second import: missing %v", got)
		}
	}
}
