package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// TestTamperedRepoRefused: an old PDS that serves a repo with one byte
// changed is caught by the export's verification, on the early download
// and on the one with the session alike. The migration stops there: no
// account on the new PDS, no PLC operation, the old account active, and no
// unverified repo.car left in the state dir.
func TestTamperedRepoRefused(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("tamprepo"), Posts: 200})
	proxy := newFaultProxy(t, net.A.URL)
	proxy.rule(func(r *http.Request) fault {
		if strings.HasSuffix(r.URL.Path, "com.atproto.sync.getRepo") {
			return fault{rewrite: func(b []byte) []byte {
				b[len(b)/2] ^= 0xff
				return b
			}}
		}
		return fault{}
	})
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	r := atmigrate(t, migrateEnv(net, acct), "migrate", "--yes", "--state-dir", state, "--old-pds", proxy.URL)
	if r.code != 1 {
		t.Fatalf("tampered repo: want exit 1\n%s", r)
	}
	mustContain(t, r, "does not verify", "export-repo")
	if n := proxy.counts()["rewrite"]; n != 2 {
		t.Errorf("the proxy tampered with %d downloads, want 2 (the early one and the one with the session)", n)
	}
	assertNoAccount(t, net.B, acct.DID)
	logAfter, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(logAfter) != len(logBefore) {
		t.Errorf("the audit log went from %d to %d operations", len(logBefore), len(logAfter))
	}
	if rs, err := pds.New(net.A.URL, pds.Options{}).GetRepoStatus(ctxT(t), acct.DID); err != nil || !rs.Active {
		t.Errorf("A status: %+v, %v; want active", rs, err)
	}
	if _, err := os.Stat(filepath.Join(state, "repo.car")); !os.IsNotExist(err) {
		t.Errorf("repo.car is left in the state dir (%v)", err)
	}
}
