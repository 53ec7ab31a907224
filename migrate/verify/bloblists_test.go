package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
)

// blobSides is an account on two fake PDSes, active on both, with
// clients that are not logged in (sync.listBlobs is public).
type blobSides struct {
	f        *world
	old, new *pds.Client
}

func newBlobSides(t *testing.T) *blobSides {
	t.Helper()
	f := newWorld(t)
	opts := pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}}
	return &blobSides{f: f, old: pds.New(f.a.URL, opts), new: pds.New(f.b.URL, opts)}
}

// blobs stores blobs on one side and returns their CIDs.
func (s *blobSides) blobs(p *fakenet.PDS, data ...string) []string {
	var cids []string
	for _, d := range data {
		cids = append(cids, p.AddBlob(s.f.did, []byte(d), "image/png"))
	}
	return cids
}

func (s *blobSides) verify(t *testing.T, quick bool) *Report {
	t.Helper()
	r := &Report{}
	o := Options{DID: s.f.did, Old: s.old, New: s.new, Quick: quick, Concurrency: 2}
	if err := verifyBlobs(context.Background(), o, r); err != nil {
		t.Fatalf("verifyBlobs: %v", err)
	}
	return r
}

// The blob lists are compared both ways, in the quick form too: extras
// on the new PDS warn (with their CIDs), blobs missing from it fail.
func TestBlobListsBothWays(t *testing.T) {
	for _, quick := range []bool{true, false} {
		name := map[bool]string{true: "quick", false: "full"}[quick]
		t.Run(name+"/equal", func(t *testing.T) {
			s := newBlobSides(t)
			s.blobs(s.f.a, "one", "two")
			s.blobs(s.f.b, "one", "two")
			r := s.verify(t, quick)
			c := checkNamed(t, r, checkBlobsListed)
			if !c.OK || c.Warn || c.Skipped || !strings.Contains(c.Detail, "the same 2 blob(s)") {
				t.Errorf("equal lists: %+v", c)
			}
			if !r.OK() || len(r.Warnings()) != 0 {
				t.Errorf("equal lists: %+v", r.Checks)
			}
		})
		t.Run(name+"/extra on the new PDS", func(t *testing.T) {
			s := newBlobSides(t)
			s.blobs(s.f.a, "one", "two")
			s.blobs(s.f.b, "one", "two")
			extra := s.blobs(s.f.b, "left by a deleted record", "another")
			r := s.verify(t, quick)
			c := checkNamed(t, r, checkBlobsListed)
			if !c.OK || !c.Warn || c.Hint == "" || !strings.Contains(c.Detail, "2 extra blob(s) on the new PDS: ") ||
				!strings.Contains(c.Detail, "2 listed on the old PDS, 4 on the new") {
				t.Errorf("extras: %+v", c)
			}
			for _, cid := range extra {
				if !strings.Contains(c.Detail, cid) {
					t.Errorf("the detail does not name the extra blob %s: %s", cid, c.Detail)
				}
			}
			if !r.OK() {
				t.Errorf("extras failed the report: %s", r.Problems())
			}
			if strings.Contains(r.Summary(), "2 checks passed") || !strings.Contains(r.Summary(), "1 warning") {
				t.Errorf("Summary() = %q", r.Summary())
			}
		})
		t.Run(name+"/missing on the new PDS", func(t *testing.T) {
			s := newBlobSides(t)
			s.blobs(s.f.a, "one")
			missing := s.blobs(s.f.a, "never copied")[0]
			extra := s.blobs(s.f.b, "one", "extra")[1]
			r := s.verify(t, quick)
			c := checkNamed(t, r, checkBlobsListed)
			if c.OK || c.Skipped || !strings.Contains(c.Detail, "1 blob(s) not on the new PDS: "+missing) ||
				!strings.Contains(c.Detail, "1 extra blob(s) on the new PDS: "+extra) {
				t.Errorf("missing: %+v", c)
			}
			if r.OK() {
				t.Error("a missing blob did not fail the report")
			}
		})
	}
}

// The first 10 extras are named, then how many more.
func TestBlobListsNamesTenExtras(t *testing.T) {
	s := newBlobSides(t)
	for i := range 13 {
		s.blobs(s.f.b, strings.Repeat("x", i+1))
	}
	c := checkNamed(t, s.verify(t, true), checkBlobsListed)
	if !c.Warn || !strings.Contains(c.Detail, "13 extra blob(s)") || !strings.Contains(c.Detail, "... 3 more") ||
		strings.Count(c.Detail, "bafk") != 10 {
		t.Errorf("13 extras: %+v", c)
	}
}

// A list that cannot be read skips the comparison and says why; it is
// never dropped silently.
func TestBlobListsUnreadable(t *testing.T) {
	t.Run("old account deactivated, no session", func(t *testing.T) {
		s := newBlobSides(t)
		s.blobs(s.f.a, "one")
		s.blobs(s.f.b, "one", "extra")
		s.f.a.SetActive(s.f.did, false)
		for _, quick := range []bool{true, false} {
			r := s.verify(t, quick)
			c := checkNamed(t, r, checkBlobsListed)
			if !c.Skipped || !strings.Contains(c.Detail, "cannot list the old PDS's blobs") ||
				!strings.Contains(c.Detail, "RepoDeactivated") || !strings.Contains(c.Detail, "old password") {
				t.Errorf("quick %v: %+v", quick, c)
			}
			if !strings.Contains(r.Summary(), "1 skipped") {
				t.Errorf("quick %v: Summary() = %q", quick, r.Summary())
			}
		}
	})
	t.Run("new PDS refuses the list", func(t *testing.T) {
		s := newBlobSides(t)
		s.blobs(s.f.a, "one")
		s.f.b.Fail("com.atproto.sync.listBlobs", 1, 400, "InvalidRequest", "no listing today")
		r := s.verify(t, false)
		c := checkNamed(t, r, checkBlobsListed)
		if !c.Skipped || !strings.Contains(c.Detail, "cannot list the new PDS's blobs") || !strings.Contains(c.Detail, "no listing today") {
			t.Errorf("blobs-listed: %+v", c)
		}
		if b := checkNamed(t, r, "blobs"); b.OK {
			t.Errorf("blobs passed without a list to fetch: %+v", b)
		}
	})
	t.Run("no old PDS", func(t *testing.T) {
		s := newBlobSides(t)
		s.old = nil
		c := checkNamed(t, s.verify(t, true), checkBlobsListed)
		if !c.Skipped || !strings.Contains(c.Detail, "no old PDS") {
			t.Errorf("blobs-listed: %+v", c)
		}
	})
}
