package migrate

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// The data stages (import-repo, blobs, preferences, verify-new): a refusal
// that running again cannot change is bad input (exit 2); anything else
// stops resumable (exit 1), and the same command repairs it. Either way
// the DID is not touched while the new PDS lacks anything.

func TestImportRefused(t *testing.T) {
	cases := []struct {
		name         string
		status       int
		errName, msg string
		want, hint   string
	}{
		{"too large", 413, "PayloadTooLarge", "request entity too large", "as too large", "PDS_MAX_REPO_IMPORT_SIZE"},
		{"imports off", 400, "InvalidRequest", "Service is not accepting repo imports", "does not accept repo imports", "PDS_ACCEPTING_REPO_IMPORTS"},
		{"another 4xx", 400, "InvalidRequest", "bad car", "bad car", "would refuse it again"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
			f.b.Fail("com.atproto.repo.importRepo", 1, c.status, c.errName, c.msg)
			_, err := Run(context.Background(), f.withKey(t))
			wantInput(t, err, c.want)
			wantHint(t, err, c.hint)
			untouched(t, f.fakeMove)
			if b, _ := f.b.Account(f.did); b.Imports != 0 {
				t.Errorf("%d imports applied", b.Imports)
			}
		})
	}
}

// A new PDS that keeps failing the import with 5xx: resumable, and the
// next run imports once.
func TestImportOutageResumes(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	failsThenResumes(t, f.fakeMove, f.withKey(t), f.b, "com.atproto.repo.importRepo", stage.ImportRepo,
		"down for maintenance", "run the same command again", func(*Result) { untouched(t, f.fakeMove) })
	if b, _ := f.b.Account(f.did); b.Imports != 1 || b.Imported != f.repo.CommitCID.String() {
		t.Errorf("new PDS: %d imports, commit %s (want %s)", b.Imports, b.CommitCID, f.repo.CommitCID)
	}
}

// Uploads the new PDS refuses for good stop the run before the identity
// stage, as bad input naming the blobs; uploads that fail for now stop it
// resumable, the state lists what is missing, and the next run uploads
// just those.
func TestBlobUploadsRefused(t *testing.T) {
	t.Run("for good", func(t *testing.T) {
		f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
		f.b.Fail("com.atproto.repo.uploadBlob", 100, 400, "InvalidRequest", "unsupported blob")
		res, err := Run(context.Background(), f.withKey(t))
		wantInput(t, err, "3 blob(s) are missing", "unsupported blob")
		wantHint(t, err, "refused these uploads")
		untouched(t, f.fakeMove)
		if got := len(res.State.Blobs.Missing); got != 3 {
			t.Errorf("state lists %d missing blobs, want 3", got)
		}
	})
	t.Run("for now", func(t *testing.T) {
		f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
		uploads := 0
		res := failsThenResumes(t, f.fakeMove, f.withKey(t), f.b, "com.atproto.repo.uploadBlob", stage.Blobs,
			"3 blob(s) are missing", "retry the missing blobs", func(res *Result) {
				untouched(t, f.fakeMove)
				if got := len(res.State.Blobs.Missing); got != 3 {
					t.Errorf("state lists %d missing blobs, want 3", got)
				}
				uploads = f.b.Calls("com.atproto.repo.uploadBlob")
			})
		if n := f.b.Calls("com.atproto.repo.uploadBlob") - uploads; n != 3 {
			t.Errorf("%d uploads in the second run, want 3", n)
		}
		if len(res.State.Blobs.Missing) != 0 || res.State.Blobs.Uploaded != 3 {
			t.Errorf("blobs after the second run: %+v", res.State.Blobs)
		}
	})
}

// Preferences are copied byte for byte (unknown entries included); an old
// PDS that cannot serve them stops the run before the switch.
func TestPreferences(t *testing.T) {
	prefs := `[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":true},{"$type":"com.example.unknownPref","x":[1,2]}]`
	f := newFullMove(t, 6, 1, fakenet.PDSOptions{})
	f.a.Modify(f.did, func(a *fakenet.Account) { a.Preferences = json.RawMessage(prefs) })
	f.a.Fail("app.bsky.actor.getPreferences", 10, 500, "InternalServerError", "Internal Server Error")
	o := f.withKey(t)
	_, err := Run(context.Background(), o)
	wantStage(t, err, stage.Preferences, "read preferences")
	untouched(t, f.fakeMove)

	f.a.ClearFailures("app.bsky.actor.getPreferences")
	prog := &logProgress{}
	o.Progress = prog
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.b.Account(f.did); string(b.Preferences) != prefs {
		t.Errorf("new preferences %s, want %s", b.Preferences, prefs)
	}
	if note := prog.note(stage.Preferences); note != "2 preferences" {
		t.Errorf("preferences note %q", note)
	}
}

// verify-new is the gate: a new PDS that no longer holds the imported
// repo, or lacks a blob, stops the run before the identity stage, and the
// next run repairs it.
func TestVerifyNewGate(t *testing.T) {
	cases := []struct {
		name   string
		damage func(f *fullMove)
		want   string
		hint   string
	}{
		{"repo lost", func(f *fullMove) {
			// A head that is not the exported commit (a record block): the
			// new PDS lost the import.
			for _, c := range f.repo.Records {
				f.b.SetCommit(f.did, c.String(), "3zzzzzzzzzzzz")
				return
			}
		}, "does not hold the exported repo", "the import is repeated"},
		{"blob lost", func(f *fullMove) {
			f.b.Modify(f.did, func(a *fakenet.Account) {
				for c := range a.Blobs {
					delete(a.Blobs, c)
					return
				}
			})
		}, "1 blob(s) are missing", "copy the missing blobs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFullMove(t, 10, 3, fakenet.PDSOptions{})
			o := f.withKey(t)
			o.Progress = atStart(stage.VerifyNew, func() { c.damage(f) })
			_, err := Run(context.Background(), o)
			wantStage(t, err, stage.VerifyNew, c.want)
			wantHint(t, err, c.hint)
			untouched(t, f.fakeMove)
			if n := f.b.Calls("com.atproto.identity.submitPlcOperation") + f.plc.Calls("POST /{did}"); n != 0 {
				t.Fatalf("%d PLC submissions past the gate", n)
			}

			o.Progress = nil
			if _, err := Run(context.Background(), o); err != nil {
				t.Fatalf("the run after the damage: %v", err)
			}
			finished(t, f.fakeMove)
			b, _ := f.b.Account(f.did)
			if b.Imported != f.repo.CommitCID.String() || len(b.MissingBlobs()) != 0 {
				t.Errorf("new PDS after the repair: commit %s, missing %v", b.CommitCID, b.MissingBlobs())
			}
		})
	}
}
