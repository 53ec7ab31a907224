package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// Run, as `atmigrate verify` runs it after a move: each check passes on
// a good move and fails, by name, when what it checks differs.

// verifyOpts are the options `atmigrate verify` builds, with both
// passwords given when login is set.
func (f *world) verifyOpts(t *testing.T, login, quick bool) Options {
	t.Helper()
	po := pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}}
	o := Options{DID: f.did, Document: plc.NewClient(f.plc.URL, nil).State, Old: pds.New(f.a.URL, po), New: pds.New(f.b.URL, po),
		NewPDS: f.b.PublicURL(), ExpectOldDown: true, Quick: quick, TempDir: t.TempDir()}
	if login {
		for _, c := range []*pds.Client{o.Old, o.New} {
			if _, err := c.Login(context.Background(), f.did, password, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return o
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func TestRunGoodMove(t *testing.T) {
	f := moved(t)
	for _, quick := range []bool{false, true} {
		r := run(t, f.verifyOpts(t, true, quick))
		if !r.OK() || len(r.Warnings()) != 0 {
			t.Fatalf("quick %v: %s %+v", quick, r.Problems(), r.Checks)
		}
		want := []string{"did-endpoint", "commit-signature", "did-signing-key", "did-rotation-keys", "records", "blobs-missing", checkBlobsListed, "preferences", "new-active", "old-deactivated"}
		if !quick {
			want = append(want, "blobs")
		}
		for _, name := range want {
			if c := checkNamed(t, r, name); !c.OK || c.Skipped {
				t.Errorf("quick %v: %+v", quick, c)
			}
		}
		if rec := checkNamed(t, r, "records"); !quick && !strings.Contains(rec.Detail, "12 records on the old PDS, 12 on the new") {
			t.Errorf("records: %+v", rec)
		}
	}
}

// Without the passwords the checks that need a session are skipped, and
// say why; none of them passes unchecked.
func TestRunWithoutPasswords(t *testing.T) {
	f := moved(t)
	r := run(t, f.verifyOpts(t, false, false))
	for _, name := range []string{"did-signing-key", "did-rotation-keys", "preferences"} {
		if c := checkNamed(t, r, name); !c.Skipped || !strings.Contains(c.Detail, "password") {
			t.Errorf("%+v", c)
		}
	}
	o := f.verifyOpts(t, true, true)
	o.Old = nil // the old PDS is gone
	r = run(t, o)
	if c := checkNamed(t, r, "records"); !c.Skipped || !strings.Contains(c.Detail, "no old PDS") {
		t.Errorf("%+v", c)
	}
}

// Each check fails when what it checks differs after the move.
func TestRunEachCheckFails(t *testing.T) {
	plcUpdate := func(mutate func(f *world, op *didplc.RegularOp)) func(t *testing.T, f *world) {
		return func(t *testing.T, f *world) {
			f.plc.Update(f.did, f.userKey, func(op *didplc.RegularOp) { mutate(f, op) })
		}
	}
	// otherRepo gives B another repo of the same DID: other records,
	// another commit over other data.
	otherRepo := func(t *testing.T, f *world) {
		car, r, err := repotest.BuildCAR(7, 0, f.b.SigningKeyFor(f.did), f.did)
		if err != nil {
			t.Fatal(err)
		}
		f.b.Modify(f.did, func(a *fakenet.Account) { a.RepoCAR, a.CommitCID, a.Rev = car, r.CommitCID.String(), r.Rev })
	}
	cases := []struct {
		name   string
		quick  bool
		damage func(t *testing.T, f *world)
		check  string
		detail string
	}{
		{"DID points elsewhere", true, plcUpdate(func(_ *world, op *didplc.RegularOp) {
			op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://elsewhere.example"}
		}), "did-endpoint", "elsewhere.example"},
		{"signing key replaced", true, plcUpdate(func(f *world, op *didplc.RegularOp) {
			op.VerificationMethods["atproto"] = fakenet.DIDKey(t, fakenet.Key(t))
		}), "did-signing-key", "the new PDS signs with"},
		{"new PDS's rotation key dropped", true, plcUpdate(func(f *world, op *didplc.RegularOp) {
			op.RotationKeys = []string{fakenet.DIDKey(t, f.userKey)}
		}), "did-rotation-keys", "missing: 1"},
		{"other records, full", false, otherRepo, "records", "difference(s)"},
		{"other records, quick", true, otherRepo, "records", "over data"},
		{"a blob damaged", false, func(_ *testing.T, f *world) {
			f.b.Modify(f.did, func(a *fakenet.Account) {
				for c, b := range a.Blobs {
					b.Data = append([]byte("x"), b.Data...)
					a.Blobs[c] = b
					return
				}
			})
		}, "blobs", "1 problem(s)"},
		{"a blob missing", true, func(_ *testing.T, f *world) {
			f.b.Modify(f.did, func(a *fakenet.Account) {
				for c := range a.Blobs {
					delete(a.Blobs, c)
					return
				}
			})
		}, "blobs-missing", "missing"},
		{"preferences changed", true, func(_ *testing.T, f *world) {
			f.b.Modify(f.did, func(a *fakenet.Account) { a.Preferences = []byte(`[]`) })
		}, "preferences", "bytes on the old PDS"},
		{"new account deactivated", true, func(_ *testing.T, f *world) { f.b.SetActive(f.did, false) },
			"new-active", "deactivated"},
		{"old account active again", true, func(_ *testing.T, f *world) { f.a.SetActive(f.did, true) },
			"old-deactivated", "active"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := moved(t)
			o := f.verifyOpts(t, true, c.quick)
			c.damage(t, f)
			r := run(t, o)
			got := checkNamed(t, r, c.check)
			if got.OK || got.Skipped || !strings.Contains(got.Detail, c.detail) {
				t.Fatalf("%s: %+v", c.check, got)
			}
			if r.OK() || !strings.Contains(r.Problems(), c.check+": ") {
				t.Errorf("the report passes or does not name %s: %q", c.check, r.Problems())
			}
		})
	}
}

// A directory that does not answer is no report at all: verify cannot
// tell, and says so.
func TestRunDirectoryDown(t *testing.T) {
	f := moved(t)
	o := f.verifyOpts(t, true, true)
	pc := plc.NewClient(f.plc.URL, nil)
	pc.Retry = pds.RetryPolicy{MaxAttempts: 1}
	o.Document = pc.State
	f.plc.Down()
	if r, err := Run(context.Background(), o); err == nil {
		t.Fatalf("verify with the directory down: %+v", r)
	}
}

// The imported commit, signed by the old PDS's key, loses no data but is
// refused by relays once the DID names the new PDS's key: a warning that
// says how to fix it. Once the new PDS signed a commit, the check passes.
func TestSignedCommitCheck(t *testing.T) {
	f := imported(t)
	c := checkNamed(t, run(t, f.verifyOpts(t, false, true)), "commit-signature")
	if !c.OK || !c.Warn || !strings.Contains(c.Detail, "earlier key") || !strings.Contains(c.Hint, "atmigrate migrate") {
		t.Errorf("imported commit: %+v", c)
	}
	f.b.SignOwnCommit(f.did)
	c = checkNamed(t, run(t, f.verifyOpts(t, false, true)), "commit-signature")
	if !c.OK || c.Warn || !strings.Contains(c.Detail, "signed by the DID's key") {
		t.Errorf("after the new PDS signed: %+v", c)
	}
	// A commit no key of the DID signed fails.
	stranger := fakenet.Key(t)
	car, r, err := repotest.BuildCAR(2, 0, stranger, f.did)
	if err != nil {
		t.Fatal(err)
	}
	f.b.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev, a.Blocks = car, r.CommitCID.String(), r.Rev, nil
	})
	c = checkNamed(t, run(t, f.verifyOpts(t, false, true)), "commit-signature")
	if c.OK || c.Skipped {
		t.Errorf("commit signed by a stranger: %+v", c)
	}
}

// The checks that need the new repo's latest commit (the records, the
// signature) share one read of it and of its block, though they run at
// once; the earlier-key check reuses the same block.
func TestQuickRunReadsTheNewCommitOnce(t *testing.T) {
	for name, f := range map[string]*world{"signed by the new PDS": moved(t), "imported": imported(t)} {
		latest, blocks := f.b.Calls("com.atproto.sync.getLatestCommit"), f.b.Calls("com.atproto.sync.getBlocks")
		r := run(t, f.verifyOpts(t, true, true))
		if c := checkNamed(t, r, "commit-signature"); !c.OK || c.Skipped {
			t.Errorf("%s: %+v", name, c)
		}
		if c := checkNamed(t, r, "records"); !c.OK || c.Skipped {
			t.Errorf("%s: %+v", name, c)
		}
		if n := f.b.Calls("com.atproto.sync.getLatestCommit") - latest; n != 1 {
			t.Errorf("%s: %d getLatestCommit requests to the new PDS, want 1", name, n)
		}
		// Signed by the new PDS, the block is the records check's and the
		// signature check's; imported (the old PDS's commit too), the
		// signature check's and the earlier-key check's.
		if n := f.b.Calls("com.atproto.sync.getBlocks") - blocks; n != 1 {
			t.Errorf("%s: %d getBlocks requests to the new PDS, want 1", name, n)
		}
	}
}
