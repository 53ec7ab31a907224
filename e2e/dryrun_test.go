package e2e

import (
	"encoding/json"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/plc"
)

// TestDryRun: --dry-run writes nothing (no account on B, audit log
// unchanged, no email sent, no state dir) and its JSON report counts what
// the account holds; a blocker makes it exit 1 and names it.
func TestDryRun(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("dry"), Posts: 120, Blobs: 7, BlobMinBytes: 3000, BlobMaxBytes: 9000, Profile: true, RecoveryKey: userDK})
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir() + "/state"
	r := atmigrate(t, migrateEnv(net, acct), "migrate", "--dry-run", "--json", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("dry run: want exit 0\n%s", r)
	}
	var rep migrate.DryRunReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parse the JSON report: %v\n%s", err, r.stdout)
	}
	if rep.Repo.Records != acct.Records {
		t.Errorf("report counts %d records, the account has %d", rep.Repo.Records, acct.Records)
	}
	if rep.Blobs.Count != len(acct.Blobs) {
		t.Errorf("report counts %d blobs, the account has %d", rep.Blobs.Count, len(acct.Blobs))
	}
	if rep.Blobs.Bytes <= 0 || rep.Blobs.Largest > 9000 || rep.Repo.Bytes <= 0 {
		t.Errorf("blob bytes %d, largest %d, repo bytes %d", rep.Blobs.Bytes, rep.Blobs.Largest, rep.Repo.Bytes)
	}
	if !rep.Login.OK || rep.Server.DID != net.B.DID || !rep.Server.HandleAllowed || !rep.Server.HandleFree || rep.PLC.Diff == "" {
		t.Errorf("report: %+v", rep)
	}
	if len(rep.Blockers) != 0 {
		t.Errorf("blockers: %v", rep.Blockers)
	}
	assertNothingWritten := func() {
		t.Helper()
		assertNoAccount(t, net.B, acct.DID)
		logNow, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
		if err != nil {
			t.Fatal(err)
		}
		if len(logNow) != len(logBefore) {
			t.Errorf("the audit log changed")
		}
		if n := plcMails(t, net.A, acct.Email); n != 0 {
			t.Errorf("%d PLC emails sent", n)
		}
		if fileExists(state) {
			t.Errorf("the dry run created the state dir %s", state)
		}
	}
	assertNothingWritten()

	// With the user's key, the report says it is valid; text output names it.
	r = atmigrate(t, migrateEnv(net, acct), "migrate", "--dry-run", "--rotation-key", keyPath, "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("dry run with the key: %s", r)
	}
	mustContain(t, r, "A real run should succeed", userDK, "one of the DID's rotation keys: yes")

	// Blockers: a handle B does not allow and a foreign rotation key.
	otherPath, _ := userKey(t)
	r = atmigrate(t, migrateEnv(net, acct), "migrate", "--dry-run", "--new-handle", "x.example.com", "--rotation-key", otherPath, "--state-dir", state)
	if r.code != 1 {
		t.Fatalf("dry run with blockers: want exit 1\n%s", r)
	}
	mustContain(t, r, "A real run would stop at preflight:", "not allowed", "'s current rotation keys", "not checked: a real run stops before the export")
	assertNothingWritten()
}
