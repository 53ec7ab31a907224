package backup

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui/uitest"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// Export against the fake network: an account on a PDS holding a real
// signed repo with blobs and preferences, its DID in a fake PLC directory.

const (
	exportPassword = "correct horse"
	exportPrefs    = `[{"$type":"app.bsky.actor.defs#savedFeedsPref","saved":[]}]`
)

type exportAccount struct {
	plc  *fakenet.PLC
	pds  *fakenet.PDS
	did  string
	repo *repotest.Repo
}

// newExportAccount is alice.test with records posts, blobs of them with
// images, and preferences.
func newExportAccount(t *testing.T, records, blobs int) *exportAccount {
	t.Helper()
	f := &exportAccount{plc: fakenet.NewPLC(t)}
	f.pds = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	sig := fakenet.Key(t)
	f.did = f.pds.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: exportPassword, Email: "alice@mail.test",
		RecoveryKey: fakenet.DIDKey(t, fakenet.Key(t)), SigningKey: sig})
	car, r, err := repotest.BuildCAR(records, blobs, sig, f.did)
	if err != nil {
		t.Fatal(err)
	}
	f.repo = r
	f.pds.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev, a.Preferences = car, r.CommitCID.String(), r.Rev, []byte(exportPrefs)
		for c, data := range r.Blobs {
			a.Blobs[c] = fakenet.Blob{Data: data, MimeType: "image/jpeg"}
		}
	})
	return f
}

// write adds n posts, blobs of them with new images, as a new commit.
func (f *exportAccount) write(t *testing.T, n, blobs int) {
	t.Helper()
	had := maps.Clone(f.repo.Blobs)
	if err := f.repo.AddPosts(n, blobs); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Commit(); err != nil {
		t.Fatal(err)
	}
	car := f.repo.CAR()
	f.pds.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev = car, f.repo.CommitCID.String(), f.repo.Rev
		for c, data := range f.repo.Blobs {
			if _, old := had[c]; !old {
				a.Blobs[c] = fakenet.Blob{Data: data, MimeType: "image/jpeg"}
			}
		}
	})
}

func (f *exportAccount) opts(out string) ExportOptions {
	return ExportOptions{Account: f.did, Password: exportPassword, PLCURL: f.plc.URL, Out: out,
		Retry: &pds.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: time.Second}}
}

func export(t *testing.T, o ExportOptions) *Manifest {
	t.Helper()
	man, err := Export(context.Background(), o)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return man
}

func TestExportIsCompleteAndIncremental(t *testing.T) {
	f := newExportAccount(t, 12, 3)
	out := filepath.Join(t.TempDir(), "backup")
	man := export(t, f.opts(out))
	if man.DID != f.did || man.Handle != "alice.test" || man.Email != "alice@mail.test" || man.PDS != f.pds.URL {
		t.Errorf("manifest names %s %s %s %s", man.DID, man.Handle, man.Email, man.PDS)
	}
	if man.Repo.Commit != f.repo.CommitCID.String() || man.Repo.Records != 12 || man.Blobs.Count != 3 || len(man.Blobs.Sizes) != 3 {
		t.Errorf("manifest repo %+v blobs %+v", man.Repo, man.Blobs)
	}
	if !slices.Equal(man.OldPDSRotationKeys, []string{f.pds.RotationKey()}) {
		t.Errorf("old PDS keys %v, want %s", man.OldPDSRotationKeys, f.pds.RotationKey())
	}
	if man.Stats.BlobsFetched != 3 || man.Stats.Preferences != 1 || man.Stats.RepoUnchanged {
		t.Errorf("stats %+v", man.Stats)
	}
	if b, _ := os.ReadFile(filepath.Join(out, PrefsFile)); string(b) != exportPrefs {
		t.Errorf("preferences.json %s", b)
	}
	rep, err := Verify(context.Background(), out)
	if err != nil || len(rep.Lacks) != 0 || rep.Summary.Records != 12 {
		t.Fatalf("the backup does not verify: %v %+v", err, rep)
	}

	// Unchanged account: nothing downloaded again.
	repos := f.pds.Calls("com.atproto.sync.getRepo")
	man = export(t, f.opts(out))
	if !man.Stats.RepoUnchanged || man.Stats.BlobsKept != 3 || man.Stats.BlobsFetched != 0 || f.pds.Calls("com.atproto.sync.getRepo") != repos {
		t.Errorf("second export: %+v, %d repo downloads", man.Stats, f.pds.Calls("com.atproto.sync.getRepo")-repos)
	}

	// A damaged blob is fetched again; a changed repo is downloaded.
	for c := range man.Blobs.Sizes {
		if err := os.WriteFile(filepath.Join(out, BlobDir, c), []byte("rot"), 0o600); err != nil {
			t.Fatal(err)
		}
		break
	}
	f.write(t, 2, 1)
	man = export(t, f.opts(out))
	if man.Stats.RepoUnchanged || man.Stats.BlobsFetched != 2 || man.Stats.BlobsKept != 2 || man.Repo.Commit != f.repo.CommitCID.String() {
		t.Errorf("third export: %+v, commit %s", man.Stats, man.Repo.Commit)
	}
	if _, err := Verify(context.Background(), out); err != nil {
		t.Fatalf("the updated backup does not verify: %v", err)
	}
}

// A deactivated account can still be backed up: the owner's session reads it.
func TestExportDeactivatedAccount(t *testing.T) {
	f := newExportAccount(t, 5, 1)
	f.pds.SetActive(f.did, false)
	man := export(t, f.opts(t.TempDir()))
	if man.Repo.Records != 5 || man.Blobs.Count != 1 {
		t.Errorf("manifest %+v", man)
	}
}

func TestExportRefusals(t *testing.T) {
	f := newExportAccount(t, 5, 2)
	other := t.TempDir()
	export(t, f.opts(other))
	otherAccount := newExportAccount(t, 1, 0)
	cases := []struct {
		name   string
		change func(o *ExportOptions)
		want   string
		hint   string
	}{
		{"no directory", func(o *ExportOptions) { o.Out = "" }, "no output directory", "{out}"},
		{"no password", func(o *ExportOptions) { o.Password = "" }, "no password", "{old-password}"},
		{"no account", func(o *ExportOptions) { o.Account = "" }, "no account given", "{account}"},
		{"wrong password", func(o *ExportOptions) { o.Password = "nope" }, "refused the password", "{old-password}"},
		{"unknown DID", func(o *ExportOptions) { o.Account = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" }, "does not know", "{plc-url}"},
		{"another account's backup", func(o *ExportOptions) {
			*o = otherAccount.opts(other)
		}, "holds a backup of " + f.did, "another {out}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := f.opts(t.TempDir())
			c.change(&o)
			_, err := Export(context.Background(), o)
			var ie *failure.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want bad input (exit 2) saying %q, got %T %v", c.want, err, err)
			}
			wantHint(t, err, c.hint)
		})
	}
}

// A blob the PDS cannot serve fails the export resumable, and leaves no
// manifest: the directory never claims to be a complete backup.
func TestExportBlobUnavailable(t *testing.T) {
	f := newExportAccount(t, 5, 2)
	out := t.TempDir()
	f.pds.Fail("com.atproto.sync.getBlob", 100, 500, "InternalServerError", "Internal Server Error")
	_, err := Export(context.Background(), f.opts(out))
	var se *failure.StageError
	var ie *failure.InputError
	if !errors.As(err, &se) || errors.As(err, &ie) || se.Stage != stage.Blobs || !strings.Contains(err.Error(), "could not be downloaded") {
		t.Fatalf("want a resumable blobs error (exit 1), got %T %v", err, err)
	}
	wantHint(t, err, "run the same export again")
	if _, err := ReadManifest(out); err == nil {
		t.Fatal("a manifest was written for an incomplete backup")
	}
	f.pds.ClearFailures("com.atproto.sync.getBlob")
	if man := export(t, f.opts(out)); man.Blobs.Count != 2 {
		t.Errorf("manifest %+v", man.Blobs)
	}
}

// wantHint asserts that err's hint contains want.
func wantHint(t *testing.T, err error, want string) {
	t.Helper()
	if h := failure.Hint(err); !strings.Contains(h, want) {
		t.Fatalf("hint %q of %v does not say %q", h, err, want)
	}
}

// A record outside the atproto data model (a float) that may hold a blob
// reference (it names a mimeType) is backed up as it is, but its blob
// references cannot be read: the export says so.
func TestExportWarnsOfUndecodedRecords(t *testing.T) {
	f := newExportAccount(t, 5, 1)
	if err := f.repo.PutRecord("com.example.odd/1", map[string]any{"$type": "com.example.odd", "f": 1.5, "mimeType": "image/png"}); err != nil {
		t.Fatal(err)
	}
	f.write(t, 0, 0)
	o := f.opts(t.TempDir())
	msgs := &uitest.Messages{}
	o.Progress = msgs
	man := export(t, o)
	if w := msgs.Warnings(); man.Repo.Records != 6 || len(w) != 1 || !strings.Contains(w[0], "1 record in the repo could not be decoded") {
		t.Errorf("records %d, warnings %q", man.Repo.Records, w)
	}
}
