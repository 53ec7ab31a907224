package e2e

import (
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// TestMigrateEndToEnd moves an account of 1,000+ records and 100+ blobs
// from A to B. Without a terminal and a token it must pause (exit 3) with
// every record and blob already on B; with the token it finishes; a third
// run changes nothing.
func TestMigrateEndToEnd(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("e2e"), Posts: 1000, Blobs: 100,
		BlobMinBytes: 5_000, BlobMaxBytes: 40_000,
		Profile: true, Preferences: true,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	if len(before.records) < 1000 || len(before.blobs) < 100 {
		t.Fatalf("seeded %d records and %d blobs", len(before.records), len(before.blobs))
	}
	env := migrateEnv(net, acct)
	state := t.TempDir()

	r := atmigrate(t, env, "migrate", "--state-dir", state, "--yes")
	if r.code != 3 {
		t.Fatalf("first run without a token: want exit 3\n%s", r)
	}
	mustContain(t, r, "--plc-token")
	t.Logf("first run:\n%s", r.stderr)
	// Data first: everything is on B before the token is asked for.
	b := login(t, net.B.URL, acct.DID, acct.Password)
	st, err := b.CheckAccountStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Activated || st.ImportedBlobs != st.ExpectedBlobs || st.ExpectedBlobs < 100 || st.IndexedRecords < 1000 {
		t.Fatalf("B after the pause: %+v", st)
	}
	if missing, err := b.ListMissingBlobs(ctxT(t)); err != nil || len(missing) != 0 {
		t.Fatalf("B missing blobs after the pause: %v %v", missing, err)
	}

	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	env["ATMIGRATE_PLC_TOKEN"] = token
	r = atmigrate(t, env, "migrate", "--state-dir", state, "--yes")
	if r.code != 0 {
		t.Fatalf("run with the token: want exit 0\n%s", r)
	}
	t.Logf("second run:\n%s", r.stderr)
	log := assertMigrated(t, net, acct, before, "")
	if n := migrationOps(t, log, net.B.URL); n != 1 {
		t.Errorf("%d migration operations in the audit log, want 1", n)
	}

	r = atmigrate(t, env, "migrate", "--state-dir", state, "--yes")
	if r.code != 0 {
		t.Fatalf("run after success: want exit 0\n%s", r)
	}
	mustContain(t, r, "already migrated")
	log2, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(log2) != len(log) {
		t.Errorf("the run after success changed the audit log: %d ops, was %d", len(log2), len(log))
	}

	r = atmigrate(t, nil, "status", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	// The blobs line keeps what the first run did, not the resumed run's
	// "nothing missing".
	mustContain(t, r, "migrated", "final-check", "uploaded (")
}
