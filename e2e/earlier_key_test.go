package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/plc"
)

// TestEarlierSigningKeyAfterMigration: right after A → B, before any new
// post, B still serves the repo imported from A, whose commit A signed
// with the key the DID no longer names, and the old, deactivated account
// on A keeps the same commit. Each is verified against the DID's earlier
// key, and the output says which:
//   - `atmigrate export` from B succeeds and names the earlier key (the
//     manifest records it as the key the repo was verified with);
//   - `atmigrate export` from A, the deactivated account, with its password;
//   - `atmigrate migrate --dry-run` moving the account back (B → A) has no
//     blocker about the signature and warns about the earlier key.
func TestEarlierSigningKeyAfterMigration(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("ek"), Posts: 40, Blobs: 3, BlobMinBytes: 1000, BlobMaxBytes: 4000, Preferences: true, RecoveryKey: userDK})
	pc := plc.NewClient(net.PLCURL, nil)
	st, err := pc.State(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := st.SigningKey()

	state := t.TempDir()
	// The migration stopped right before B signs a commit of its own
	// (sign-commit), with A then deactivated as the migration does: the
	// situation of a move by a tool that does not sign, or of one whose
	// sign-commit has not run yet.
	killed := runBin(t, withEnv(migrateEnv(net, acct), "ATMIGRATE_TEST_CRASH_AT", "start:sign-commit"), "migrate", "--yes", "--state-dir", state, "--rotation-key", keyPath)
	if !killed.killed() {
		t.Fatalf("migrate A → B, stopped before sign-commit: %s", killed)
	}
	if err := login(t, net.A.URL, acct.DID, acct.Password).DeactivateAccount(ctxT(t)); err != nil {
		t.Fatalf("deactivate A: %v", err)
	}
	var r run
	if st, err = pc.State(ctxT(t), acct.DID); err != nil {
		t.Fatal(err)
	}
	if st.Endpoint() != net.B.URL || st.SigningKey() == oldKey {
		t.Fatalf("after the migration the DID names %s with key %s (A's key was %s)", st.Endpoint(), st.SigningKey(), oldKey)
	}
	// The situation under test: B has written no commit of its own.
	exported := loadState(t, state).Repo.Commit
	if c, _, err := login(t, net.B.URL, acct.DID, acct.Password).GetLatestCommit(ctxT(t), acct.DID); err != nil || c != exported {
		t.Fatalf("B's latest commit %s (%v), want the one imported from A, %s", c, err, exported)
	}

	exportEnv := map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_PLC_URL": net.PLCURL}
	note := "the DID's earlier key " + oldKey

	// From B, found through the DID document.
	fromB := filepath.Join(t.TempDir(), "from-b")
	r = atmigrate(t, exportEnv, "export", "--account", acct.DID, "--out", fromB)
	if r.code != 0 {
		t.Fatalf("export from B right after the migration: %s", r)
	}
	t.Logf("export from B:\n%s", r.stderr)
	mustContain(t, r, note, net.B.URL+" has not written a new commit")
	man, err := backup.ReadManifest(fromB)
	if err != nil {
		t.Fatal(err)
	}
	if man.PDS != net.B.URL || man.SigningKey != oldKey || man.Repo.Commit != exported {
		t.Errorf("manifest: PDS %s, signing key %s, commit %s; want %s, %s, %s", man.PDS, man.SigningKey, man.Repo.Commit, net.B.URL, oldKey, exported)
	}
	if _, err := backup.Verify(ctxT(t), fromB); err != nil {
		t.Errorf("the backup from B does not verify: %v", err)
	}

	// From A: the old account, deactivated by the migration.
	fromA := filepath.Join(t.TempDir(), "from-a")
	r = atmigrate(t, exportEnv, "export", "--account", acct.DID, "--old-pds", net.A.URL, "--out", fromA)
	if r.code != 0 {
		t.Fatalf("export of the deactivated account from A: %s", r)
	}
	t.Logf("export from A:\n%s", r.stderr)
	mustContain(t, r, "account deactivated", note)

	// The dry run of moving back.
	back := migrateEnv(net, acct)
	back["ATMIGRATE_NEW_PDS"] = net.A.URL
	r = atmigrate(t, back, "migrate", "--dry-run", "--json", "--rotation-key", keyPath, "--state-dir", filepath.Join(t.TempDir(), "back"))
	var rep migrate.DryRunReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parse the dry run's JSON report: %v\n%s", err, r)
	}
	t.Logf("dry run B → A: exit %d, blockers %q, warnings %q", r.code, rep.Blockers, rep.Warnings)
	for _, b := range rep.Blockers {
		if strings.Contains(b, "signature") || strings.Contains(b, "does not verify") {
			t.Errorf("dry run B → A: blocker about the signature: %s", b)
		}
	}
	if rep.Repo.Commit != exported || rep.Repo.Records != acct.Records {
		t.Errorf("dry run B → A: repo commit %s with %d records, want %s with %d", rep.Repo.Commit, rep.Repo.Records, exported, acct.Records)
	}
	warned := false
	for _, w := range rep.Warnings {
		warned = warned || strings.Contains(w, note)
	}
	if !warned {
		t.Errorf("dry run B → A: no warning names the earlier key %s: %q", oldKey, rep.Warnings)
	}
}
