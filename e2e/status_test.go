package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
)

// TestStatusAfterFailedBlobs makes B refuse every upload (400): the run
// must stop in the blobs stage with exit 1 and the list of what is
// missing, never reaching the identity stage (the PLC audit log unchanged,
// A still active). `atmigrate status` must show the stages done, the
// failed stage, the counts, the missing blob CIDs and the error. Once B
// accepts uploads again, the same command finishes the migration.
func TestStatusAfterFailedBlobs(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("status"), Posts: 200, Blobs: 12,
		BlobMinBytes: 5_000, BlobMaxBytes: 15_000,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	ctx := ctxT(t)
	log0, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}

	var refuse atomic.Bool
	refuse.Store(true)
	pb := newFrontProxy(t, net.B.URL)
	pb.rule(func(r *http.Request) fault {
		if _, ok := is(r, nsidUploadBlob); ok && refuse.Load() {
			return fault{status: http.StatusBadRequest, body: `{"error":"InvalidRequest","message":"blob refused by the test proxy"}`}
		}
		return fault{}
	})
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}

	// A 400 is a refusal that running again cannot change: bad input
	// (exit 2), never "run the same command again" on its own.
	r := runBin(t, env, args...)
	if r.code != 2 {
		t.Fatalf("every upload refused with a 400: want exit 2\n%s", r)
	}
	mustContain(t, r.run, "blob(s) are missing on the new PDS", "blob refused by the test proxy", "atmigrate status")
	if n := pb.callCount(nsidUploadBlob); n < len(before.blobs) || n > 2*len(before.blobs) {
		t.Errorf("%d uploads for %d blobs: a 400 must not be retried", n, len(before.blobs))
	}

	// The invariant: a failed blob never reaches the identity stage.
	log1, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(log1) != len(log0) {
		t.Errorf("the PLC audit log changed (%d -> %d entries) although blobs failed", len(log0), len(log1))
	}
	if rs, err := pds.New(net.A.URL, pds.Options{}).GetRepoStatus(ctx, acct.DID); err != nil || !rs.Active {
		t.Errorf("A after the failed run: %+v, %v; want active", rs, err)
	}
	if _, err := net.A.PLCToken(acct.Email); err == nil {
		t.Errorf("a PLC token was requested although blobs failed")
	}

	st := loadState(t, state)
	if st.LastErrorStage != stage.Blobs || len(st.Blobs.Missing) != len(before.blobs) {
		t.Errorf("state: last error stage %q, %d missing; want blobs, %d", st.LastErrorStage, len(st.Blobs.Missing), len(before.blobs))
	}
	out := statusOK(t, state)
	want := []string{
		"stopped with an error",
		"[x]  5 import-repo",
		"[!]  6 blobs",
		"[ ] 10 identity",
		fmt.Sprintf("%d records", len(before.records)),
		fmt.Sprintf("blobs     %d (", len(before.blobs)),
		"missing on the new PDS",
		"error     blobs:",
		"blob refused by the test proxy",
	}
	for _, c := range before.blobs {
		want = append(want, "missing "+c)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	t.Logf("status of the failed run:\n%s", out)

	// The JSON form carries the same: a 400 is bad input, so the run
	// stopped for good until it is fixed, in the blobs stage.
	rj := atmigrate(t, nil, "status", "--state-dir", state, "--json")
	var sj struct {
		Status    string
		LastError struct{ Stage, Message string }
		Blobs     struct{ Missing []string }
	}
	if err := json.Unmarshal([]byte(rj.stdout), &sj); rj.code != 0 || err != nil || sj.Status != "failed-permanent" ||
		sj.LastError.Stage != "blobs" || !strings.Contains(sj.LastError.Message, "blob refused by the test proxy") || len(sj.Blobs.Missing) != len(before.blobs) {
		t.Errorf("status --json: %v\n%s", err, rj)
	}

	refuse.Store(false)
	r = runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("resume after the failure: want exit 3\n%s", r)
	}
	r = runWithToken(t, net, acct, env, args...)
	assertOneMigration(t, net, acct, before)
	out = statusOK(t, state)
	if !strings.Contains(out, "migrated") || strings.Contains(out, "[!]") {
		t.Errorf("status after success:\n%s", out)
	}
	if rj = atmigrate(t, nil, "status", "--state-dir", state, "--json"); !strings.Contains(rj.stdout, `"status": "migrated"`) {
		t.Errorf("status --json after success: %s", rj)
	}
	t.Logf("status test: %s", time.Since(start).Round(100*time.Millisecond))
}
