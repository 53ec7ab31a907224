package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// snapshot is what an account holds, taken from a PDS before a migration
// and compared with the new PDS after it.
type snapshot struct {
	records map[string]string // collection/rkey -> record CID
	blobs   []string
	prefs   string // canonical JSON
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func login(t *testing.T, url, did, password string) *pds.Client {
	t.Helper()
	c := pds.New(url, pds.Options{})
	if _, err := c.Login(ctxT(t), did, password, ""); err != nil {
		t.Fatalf("log in to %s as %s: %v", url, did, err)
	}
	return c
}

func takeSnapshot(t *testing.T, url, did, password string) snapshot {
	t.Helper()
	ctx := ctxT(t)
	c := login(t, url, did, password)
	path := filepath.Join(t.TempDir(), "repo.car")
	if _, err := c.DownloadRepo(ctx, did, "", path, nil, nil); err != nil {
		t.Fatalf("download repo from %s: %v", url, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, _, err := repo.RecordIndex(ctx, f)
	if err != nil {
		t.Fatalf("index repo from %s: %v", url, err)
	}
	var blobs []string
	cursor := ""
	for {
		cids, next, err := c.ListBlobs(ctx, did, cursor, 1000)
		if err != nil {
			t.Fatalf("list blobs on %s: %v", url, err)
		}
		blobs = append(blobs, cids...)
		if next == "" || len(cids) == 0 {
			break
		}
		cursor = next
	}
	sort.Strings(blobs)
	prefs, err := c.GetPreferences(ctx)
	if err != nil {
		t.Fatalf("get preferences from %s: %v", url, err)
	}
	var v any
	if err := json.Unmarshal(prefs, &v); err != nil {
		t.Fatal(err)
	}
	canon, _ := json.Marshal(v)
	return snapshot{records: idx, blobs: blobs, prefs: string(canon)}
}

// assertMigrated checks everything a migration promises: every record with
// the same CID, every blob (fetched back and hashed), the preferences, the
// PLC document, B active and A deactivated. It returns the audit log.
func assertMigrated(t *testing.T, net *localnet.Network, acct *localnet.Account, before snapshot, newPassword string) []didplc.LogEntry {
	t.Helper()
	ctx := ctxT(t)
	if newPassword == "" {
		newPassword = acct.Password
	}
	after := takeSnapshot(t, net.B.URL, acct.DID, newPassword)
	if len(after.records) != len(before.records) {
		t.Errorf("records: %d on B, %d on A before", len(after.records), len(before.records))
	}
	for k, v := range before.records {
		if after.records[k] != v {
			t.Errorf("record %s: %q on B, %q on A before", k, after.records[k], v)
			break
		}
	}
	if !reflect.DeepEqual(after.blobs, before.blobs) {
		t.Errorf("blobs: %d on B, %d on A before", len(after.blobs), len(before.blobs))
	}
	b := login(t, net.B.URL, acct.DID, newPassword)
	for _, c := range after.blobs {
		err := b.FetchBlob(ctx, acct.DID, c, func(body io.Reader, _ int64, _ string) error {
			_, err := repo.CheckCID(c, body)
			return err
		})
		if err != nil {
			t.Errorf("blob %s on B: %v", c, err)
		}
	}
	if after.prefs != before.prefs {
		t.Errorf("preferences differ:\nB: %s\nA: %s", after.prefs, before.prefs)
	}
	log, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	st, err := plc.StateFromLog(acct.DID, log)
	if err != nil {
		t.Fatalf("audit log does not verify: %v", err)
	}
	if st.Endpoint() != net.B.URL {
		t.Errorf("PLC endpoint %s, want %s", st.Endpoint(), net.B.URL)
	}
	cred, err := b.GetRecommendedDidCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.SigningKey() != cred.VerificationMethods["atproto"] {
		t.Errorf("PLC signing key %s, want B's %s", st.SigningKey(), cred.VerificationMethods["atproto"])
	}
	if rs, err := b.GetRepoStatus(ctx, acct.DID); err != nil || !rs.Active {
		t.Errorf("B status: %+v, %v; want active", rs, err)
	}
	a := pds.New(net.A.URL, pds.Options{})
	if rs, err := a.GetRepoStatus(ctx, acct.DID); err != nil || rs.Active || rs.Status != "deactivated" {
		t.Errorf("A status: %+v, %v; want deactivated", rs, err)
	}
	return log
}

// migrationOps counts the live operations that moved the DID onto url.
func migrationOps(t *testing.T, log []didplc.LogEntry, url string) int {
	t.Helper()
	n := 0
	prevEndpoint := ""
	for _, e := range log {
		if e.Nullified {
			continue
		}
		op, ok := e.Operation.AsOperation().(*didplc.RegularOp)
		if !ok {
			continue
		}
		ep := op.Services["atproto_pds"].Endpoint
		if ep == url && prevEndpoint != url {
			n++
		}
		prevEndpoint = ep
	}
	return n
}

// assertOneMigration is assertMigrated plus exactly one operation in the
// audit log that moved the DID onto B.
func assertOneMigration(t *testing.T, net *localnet.Network, acct *localnet.Account, before snapshot) []didplc.LogEntry {
	t.Helper()
	log := assertMigrated(t, net, acct, before, "")
	if n := migrationOps(t, log, net.B.URL); n != 1 {
		t.Errorf("%d migration operations, want 1", n)
	}
	return log
}
