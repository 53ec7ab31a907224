package migrate

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
)

// The catch-up stage: what the account writes on the old PDS after the
// export (while the run waits for the token, say) reaches the new PDS
// before the switch, blobs included.

// write adds n posts to A's repo, the first blobs of them with new images,
// as an app posting during the move would: a new commit signed by the
// same key, its blobs stored on A.
func (f *fullMove) write(t *testing.T, n, blobs int) {
	t.Helper()
	had := maps.Clone(f.repo.Blobs)
	if err := f.repo.AddPosts(n, blobs); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Commit(); err != nil {
		t.Fatal(err)
	}
	car := f.repo.CAR()
	f.a.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev = car, f.repo.CommitCID.String(), f.repo.Rev
		a.ExpectedBlobs = maps.Clone(a.ExpectedBlobs)
		for c, data := range f.repo.Blobs {
			if _, old := had[c]; !old {
				a.Blobs[c] = fakenet.Blob{Data: data, MimeType: "image/jpeg"}
				a.ExpectedBlobs[c] = "at://" + f.did + "/app.bsky.feed.post/new"
			}
		}
	})
}

// catchUpMove is a move whose new PDS expects the blobs of what it
// imports, as the reference PDS does.
func catchUpMove(t *testing.T) *fullMove {
	return newFullMove(t, 10, 2, fakenet.PDSOptions{ExpectImportedBlobs: true})
}

// Posts made while the run waits for the token are imported, with their
// blobs, and checked before the switch; the note says so.
func TestCatchUpWritesWhilePaused(t *testing.T) {
	f := catchUpMove(t)
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	exported := f.repo.Rev
	f.write(t, 3, 1)

	res, prog := withToken(t, f.fakeMove, o)
	b, _ := f.b.Account(f.did)
	if b.Imported != f.repo.CommitCID.String() {
		t.Errorf("new PDS holds %s, want the latest commit %s", b.CommitCID, f.repo.CommitCID)
	}
	if len(b.Blobs) != 3 || len(b.MissingBlobs()) != 0 {
		t.Errorf("new PDS holds %d blobs, missing %v; want the 3 written", len(b.Blobs), b.MissingBlobs())
	}
	cu := res.State.CatchUp
	if cu.Rounds != 1 || cu.FromRev != exported || cu.ToRev != f.repo.Rev || cu.Records < 3 {
		t.Errorf("catch-up state %+v", cu)
	}
	if note := prog.note(stage.CatchUp); !strings.HasPrefix(note, "caught up: 1 round(s)") {
		t.Errorf("catch-up note %q", note)
	}
	if !prog.said("the old repo moved on", false) {
		t.Errorf("the run did not say the repo moved on: %q", prog.Infos())
	}
}

// A new PDS that refuses the difference gets the full repo instead.
func TestCatchUpDifferenceRefused(t *testing.T) {
	f := catchUpMove(t)
	o := f.opts(t)
	paused(t, f.fakeMove, o)
	f.write(t, 2, 1)
	// The import-repo stage is skipped (the new PDS holds the export): the
	// next import is the catch-up's difference.
	f.b.Fail("com.atproto.repo.importRepo", 1, 400, "InvalidRequest", "Could not find block")
	res, prog := withToken(t, f.fakeMove, o)
	if !prog.said("refused the difference", true) {
		t.Errorf("no warning about the refused difference: %q", prog.Warnings())
	}
	if b, _ := f.b.Account(f.did); b.Imported != f.repo.CommitCID.String() || len(b.MissingBlobs()) != 0 {
		t.Errorf("new PDS: commit %s (want %s), missing %v", b.CommitCID, f.repo.CommitCID, b.MissingBlobs())
	}
	if res.State.Repo.Commit != f.repo.CommitCID.String() || res.State.Repo.Records != 12 {
		t.Errorf("state's repo after the full import: %+v", res.State.Repo)
	}
}

// An account that writes during every round is stopped before the switch,
// resumable, with what to do.
func TestCatchUpNeverSettles(t *testing.T) {
	f := catchUpMove(t)
	o := f.withKey(t)
	// A post lands on the old PDS during every import.
	o.Progress = &logProgress{onTransfer: func(k ui.TransferKind) {
		if k == ui.TransferRepoImport {
			f.write(t, 1, 0)
		}
	}}
	_, err := Run(context.Background(), o)
	wantStage(t, err, stage.CatchUp, "wrote during each of 5 catch-up rounds")
	wantHint(t, err, "pause the apps")
	untouched(t, f.fakeMove)

	// Once the apps stop, the same command finishes.
	o.Progress = nil
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	finished(t, f.fakeMove)
	if b, _ := f.b.Account(f.did); b.Imported != f.repo.CommitCID.String() {
		t.Errorf("new PDS holds %s, want %s", b.CommitCID, f.repo.CommitCID)
	}
}
