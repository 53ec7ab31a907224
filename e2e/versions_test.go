package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/batch"
	"github.com/atmigrate/atmigrate/plc"
)

// The PDS version matrix: the other end-to-end tests run both PDSes on
// @atproto/pds 0.4.217; these run mixed pairs, one side on 0.5.35 (Node 22),
// in both directions. Each pair's network is started once and shared by the
// tests below, like sharedNet.

// versionPair names a network by the versions of A and B.
type versionPair struct{ a, b string }

func (p versionPair) String() string { return p.a + "->" + p.b }

var (
	pair45 = versionPair{localnet.Version04, localnet.Version05} // onto 0.5
	pair54 = versionPair{localnet.Version05, localnet.Version04} // away from 0.5
)

// versionNet is the shared network whose A and B run the versions of p.
// It checks that each PDS reports the @atproto/pds version asked for.
func versionNet(t *testing.T, p versionPair) *localnet.Network {
	t.Helper()
	return namedNet(t, "net-"+p.a+"-"+p.b, localnet.Options{VersionA: p.a, VersionB: p.b}, func(n *localnet.Network) error {
		for _, s := range []*localnet.PDS{n.A, n.B} {
			if v, err := healthVersion(s.URL); err != nil || !strings.HasPrefix(v, s.PackageVersion+"-") {
				return fmt.Errorf("%s should run @atproto/pds %s: _health says %q (%v)", s.Name, s.PackageVersion, v, err)
			}
		}
		return nil
	})
}

// healthVersion is the version a PDS reports at /xrpc/_health.
func healthVersion(url string) (string, error) {
	resp, err := http.Get(url + "/xrpc/_health")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var h struct {
		Version string `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", err
	}
	return h.Version, nil
}

// TestVersionMigrate moves a small account in both directions between 0.4
// and 0.5, once with the user's rotation key (no email) and once with the
// email token (a pause for it, then the run with it), and checks the full
// result: records, blobs, preferences, the DID document, B active and A
// deactivated, one migration operation.
func TestVersionMigrate(t *testing.T) {
	start := time.Now()
	var done []string
	for _, p := range []versionPair{pair45, pair54} {
		for _, flow := range []string{"rotation-key", "email-token"} {
			t.Run(p.String()+"/"+flow, func(t *testing.T) {
				net := versionNet(t, p)
				keyPath, userDK := "", ""
				if flow == "rotation-key" {
					keyPath, userDK = userKey(t)
				}
				acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("ver"), Posts: 120, Blobs: 8,
					BlobMinBytes: 2_000, BlobMaxBytes: 30_000, Profile: true, Preferences: true, RecoveryKey: userDK})
				before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
				env := migrateEnv(net, acct)
				args := []string{"migrate", "--yes", "--state-dir", t.TempDir()}
				if flow == "rotation-key" {
					r := atmigrate(t, env, append(args, "--rotation-key", keyPath)...)
					if r.code != 0 {
						t.Fatalf("want exit 0\n%s", r)
					}
					if n := plcMails(t, net.A, acct.Email); n != 0 {
						t.Errorf("%d PLC token emails sent, want none", n)
					}
				} else {
					r := atmigrate(t, env, args...)
					if r.code != 3 {
						t.Fatalf("without a token: want the pause (exit 3)\n%s", r)
					}
					mustContain(t, r, "--plc-token")
					runWithToken(t, net, acct, env, args...)
				}
				assertOneMigration(t, net, acct, before)
				if flow == "rotation-key" {
					want := []string{userDK, newPDSRotationKey(t, net, acct.DID, acct.Password)}
					if got := rotationKeys(t, net, acct.DID); strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("rotation keys %v, want %v", got, want)
					}
				}
				done = append(done, p.String()+" "+flow)
			})
		}
	}
	report(t, fmt.Sprintf("version matrix: %d migrations between @atproto/pds 0.4.217 and 0.5.35 (%s): %s",
		len(done), time.Since(start).Round(100*time.Millisecond), strings.Join(done, ", ")))
}

// versionKillPoints are the kill test's identity points: the moments
// around the PLC operation, the activation on the new PDS and the
// deactivation on the old one.
var versionKillPoints = []string{"plc-before-submit", "plc-submitted", "start:activate", "before-deactivate"}

// TestVersionKillIdentity kills an email-token migration from 0.4 onto 0.5
// at each identity point in turn, checks the invariants after every kill
// (as TestKillAnywhere does) and lets it finish: one PLC operation,
// everything on B.
func TestVersionKillIdentity(t *testing.T) {
	start := time.Now()
	net := versionNet(t, pair45)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("verkill"), Posts: 80, Blobs: 6,
		BlobMinBytes: 2_000, BlobMaxBytes: 10_000, Preferences: true})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	ctx := ctxT(t)
	log0, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	commitA, _, err := pds.New(net.A.URL, pds.Options{}).GetLatestCommit(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	token := ""
	tokenOf := func() (string, error) { return net.A.PLCToken(acct.Email) }
	for _, point := range versionKillPoints {
		r := rcRunTo(t, env, args, point, tokenOf, &token)
		t.Logf("killed at %-18s (run took %s)", point, r.wall.Round(time.Millisecond))
		st := loadState(t, state)
		statusOK(t, state)
		checkInvariants(t, net, acct, nil, log0, commitA, st, point)
	}
	r := runBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if r.code != 0 {
		t.Fatalf("final run after the kills: want exit 0\n%s", r)
	}
	log := assertOneMigration(t, net, acct, before)
	if len(log) != len(log0)+1 {
		t.Errorf("audit log has %d entries, want %d (one operation added)", len(log), len(log0)+1)
	}
	if st := loadState(t, state); !st.Completed {
		t.Errorf("state not completed after the final run")
	}
	report(t, fmt.Sprintf("version kill test %s: killed at %s, resumed, 1 PLC op (%s)",
		pair45, strings.Join(versionKillPoints, ", "), time.Since(start).Round(100*time.Millisecond)))
}

// TestVersionRestoreOnto05 exports an account with a user rotation key
// from A (0.4) and restores the backup onto B (0.5), without the old PDS:
// B gets the same records, blobs and preferences, the DID document points
// at B with rotation keys [user, B], two PLC operations.
func TestVersionRestoreOnto05(t *testing.T) {
	net := versionNet(t, pair45)
	keyFile, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("verbk"), Posts: 60, Blobs: 6,
		BlobMinBytes: 2_000, BlobMaxBytes: 20_000, Profile: true, Preferences: true, RecoveryKey: userDK})
	dir := filepath.Join(t.TempDir(), "backup")
	r := atmigrate(t, map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_PLC_URL": net.PLCURL},
		"export", "--account", acct.DID, "--old-pds", net.A.URL, "--out", dir)
	if r.code != 0 {
		t.Fatalf("export: %s", r)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	ops := rcAuditLen(t, net, acct.DID)

	const newPassword = "restored-password-05"
	env := map[string]string{
		"ATMIGRATE_NEW_PDS":      net.B.URL,
		"ATMIGRATE_PLC_URL":      net.PLCURL,
		"ATMIGRATE_NEW_PASSWORD": newPassword,
	}
	r = atmigrate(t, env, "migrate", "--from-backup", dir, "--rotation-key", keyFile, "--state-dir", t.TempDir(), "--yes")
	if r.code != 0 {
		t.Fatalf("restore onto 0.5: %s", r)
	}
	mustContain(t, r, "all verified", "not contacted")
	assertRestored(t, net, acct, before, newPassword, userDK)
	if n := rcAuditLen(t, net, acct.DID) - ops; n != 2 {
		t.Errorf("%d PLC operations after the backup, want 2", n)
	}
}

// TestVersionBatchOnto05 moves two accounts from A (0.4) onto B (0.5) in
// one batch, signing with A's rotation key.
func TestVersionBatchOnto05(t *testing.T) {
	net := versionNet(t, pair45)
	accts := seedMany(t, net.A, "verb", 2, 30, 80, 5)
	befores := make([]snapshot, len(accts))
	for i, a := range accts {
		befores[i] = takeSnapshot(t, net.A.URL, a.DID, a.Password)
	}
	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"),
		fmt.Sprintf("account,old_password\n%s,env:BATCH_PW\n%s,env:BATCH_PW\n", accts[0].DID, accts[1].Handle))
	state := filepath.Join(dir, "state")
	r := atmigrate(t, map[string]string{"BATCH_PW": localnet.DefaultPassword},
		"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
		"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--plc-rotation-key", keyFile, "--parallel-accounts", "2", "--yes")
	if r.code != 0 {
		t.Fatalf("batch onto 0.5: want exit 0\n%s", r)
	}
	rep := readReport(t, state)
	for i, a := range accts {
		name := a.DID
		if i == 1 {
			name = a.Handle
		}
		if e := reportEntry(t, rep, name); e.Status != batch.Migrated || e.DID != a.DID || e.PLCMethod != "rotation-key" {
			t.Errorf("%s: %+v", name, e)
		}
		assertOneMigration(t, net, a, befores[i])
	}
	if rep.Summary.Migrated != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}
}
