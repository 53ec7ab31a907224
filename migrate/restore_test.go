package migrate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// A restore with FromBackup: a backup taken from the old PDS (with
// backup.Export) moves the account once that PDS is gone, with the user's
// own rotation key, and nothing reaches the old PDS.

const backupPrefs = `[{"$type":"app.bsky.actor.defs#savedFeedsPref","saved":[]}]`

// withPrefs is a move whose account has preferences.
func withPrefs(t *testing.T, records, blobs int) *fullMove {
	t.Helper()
	f := newFullMove(t, records, blobs, fakenet.PDSOptions{})
	f.a.Modify(f.did, func(a *fakenet.Account) { a.Preferences = []byte(backupPrefs) })
	return f
}

func (f *fullMove) exportOpts(t *testing.T, out string) backup.ExportOptions {
	o := f.opts(t)
	return backup.ExportOptions{Account: f.did, Password: fakePassword, PLCURL: f.plc.URL, Out: out, Retry: o.Retry}
}

func export(t *testing.T, o backup.ExportOptions) *backup.Manifest {
	t.Helper()
	man, err := backup.Export(context.Background(), o)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	return man
}

// restoreOpts is a restore from dir: no old password (so the new one is
// given), the user's key.
func (f *fullMove) restoreOpts(t *testing.T, dir string) Options {
	o := f.withKey(t)
	o.OldPassword, o.NewPassword, o.FromBackup = "", fakePassword, dir
	return o
}

// The old PDS is gone: the backup and the user's rotation key move the
// account, and the old PDS is never logged in to or read from.
func TestRestoreFromBackup(t *testing.T) {
	f := withPrefs(t, 12, 3)
	dir := t.TempDir()
	export(t, f.exportOpts(t, dir))
	f.a.Down()
	reads := func() int {
		n := 0
		for _, nsid := range []string{"com.atproto.server.createSession", "com.atproto.sync.getRepo", "com.atproto.sync.getBlob", "app.bsky.actor.getPreferences"} {
			n += f.a.Calls(nsid)
		}
		return n
	}
	before := reads()
	o := f.restoreOpts(t, dir)
	prog := &logProgress{}
	o.Progress = prog
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if n := reads() - before; n != 0 {
		t.Errorf("%d logins or reads on the old PDS during the restore", n)
	}
	if ep := endpointNow(t, f.fakeMove); ep != f.b.PublicURL() || !active(t, f.b, f.did) {
		t.Fatalf("the DID points at %s; new account active: %v", ep, active(t, f.b, f.did))
	}
	b, _ := f.b.Account(f.did)
	if b.Imported != f.repo.CommitCID.String() || len(b.Blobs) != 3 || string(b.Preferences) != backupPrefs || b.Email != "alice@mail.test" {
		t.Errorf("new account: commit %s, %d blobs, prefs %s, email %s", b.CommitCID, len(b.Blobs), b.Preferences, b.Email)
	}
	data, _ := f.plc.Data(f.did)
	if data.VerificationMethods["atproto"] != b.SigningKey || slices.Contains(data.RotationKeys, f.a.RotationKey()) || data.RotationKeys[0] != fakenet.DIDKey(t, f.userKey) {
		t.Errorf("DID document after the restore: %+v (new signing key %s)", data, b.SigningKey)
	}
	if res.State.PLC.TempSigningKeyOpCID == "" || res.State.PLC.Method != "rotation-key" {
		t.Errorf("state PLC %+v", res.State.PLC)
	}
	if !prog.said("the DID's signing key is now a temporary key", false) || !prog.said("all verified", false) {
		t.Errorf("infos %q", prog.Infos())
	}
	if note := res.State.Stages[stage.DeactivateOld].Note; note == "" {
		t.Error("deactivate-old has no note saying why it was skipped")
	}
}

func TestRestoreRefusals(t *testing.T) {
	f := withPrefs(t, 6, 2)
	dir := t.TempDir()
	export(t, f.exportOpts(t, dir))
	other := newFullMove(t, 2, 0, fakenet.PDSOptions{})
	otherDir := t.TempDir()
	export(t, other.exportOpts(t, otherDir))
	damaged := t.TempDir()
	export(t, f.exportOpts(t, damaged))
	if err := os.WriteFile(filepath.Join(damaged, backup.RepoFile), []byte("not a car"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.a.Down()
	ops := len(f.plc.Log(f.did))
	cases := []struct {
		name   string
		change func(o *Options)
		want   string
		hint   string
	}{
		{"no rotation key", func(o *Options) { o.RotationKey = nil }, "needs your rotation key", "{rotation-key}"},
		{"no new password", func(o *Options) { o.NewPassword = "" }, "no password for the new account", "{new-password}"},
		{"another account's backup", func(o *Options) { o.FromBackup = otherDir }, "is of " + other.did, "the backup of this account"},
		{"damaged backup", func(o *Options) { o.FromBackup = damaged }, "the backup was refused", "another backup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := f.restoreOpts(t, dir)
			c.change(&o)
			_, err := Run(context.Background(), o)
			wantInput(t, err, c.want)
			wantHint(t, err, c.hint)
			noAccountOn(t, f.b, f.did)
			if n := len(f.plc.Log(f.did)); n != ops {
				t.Errorf("%d PLC operations after the refusal, want %d", n, ops)
			}
		})
	}
}

// The dry run of a restore must check what the restore does: it opens the
// backup and never logs in to the old PDS (it once logged in anyway and,
// with the old PDS gone, reported a login blocker for a restore that
// succeeds).
func TestDryRunOfARestore(t *testing.T) {
	f := withPrefs(t, 6, 2)
	dir := t.TempDir()
	export(t, f.exportOpts(t, dir))
	f.a.Down()
	logins := f.a.Calls("com.atproto.server.createSession")
	r := dryRun(t, f.restoreOpts(t, dir))
	if n := f.a.Calls("com.atproto.server.createSession") - logins; n != 0 {
		t.Errorf("the dry run of a restore logged in to the old PDS %d times", n)
	}
	if !r.OK() {
		t.Errorf("the dry run of a restore that succeeds reports blockers %q", r.Blockers)
	}
}
