package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// migrated is an account moved from A to B with its own rotation key.
func migrated(t *testing.T, net *localnet.Network) (*localnet.Account, string) {
	t.Helper()
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("vf"), Posts: 30, Blobs: 3, BlobMinBytes: 2000, BlobMaxBytes: 6000, Preferences: true, RecoveryKey: userDK})
	if r := atmigrate(t, migrateEnv(net, acct), "migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath); r.code != 0 {
		t.Fatalf("migrate: %s", r)
	}
	return acct, keyPath
}

func verifyArgs(net *localnet.Network, acct *localnet.Account) (map[string]string, []string) {
	env := map[string]string{
		"ATMIGRATE_OLD_PASSWORD": acct.Password,
		"ATMIGRATE_NEW_PASSWORD": acct.Password,
		"ATMIGRATE_PLC_URL":      net.PLCURL,
	}
	return env, []string{"verify", "--account", acct.DID, "--old-pds", net.A.URL, "--new-pds", net.B.URL}
}

func TestVerifyPassesAfterMigration(t *testing.T) {
	net := sharedNet(t)
	acct, _ := migrated(t, net)
	env, args := verifyArgs(net, acct)
	r := atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("verify: want exit 0\n%s", r)
	}
	for _, name := range []string{"did-endpoint", "did-signing-key", "records", "blobs", "preferences", "new-active", "old-deactivated"} {
		if !strings.Contains(r.stdout, "ok    "+name) {
			t.Errorf("check %s did not pass:\n%s", name, r)
		}
	}

	// By handle (the deactivated old PDS no longer answers for it; the new
	// one does), as JSON: the same checks, the same exit code.
	args[2] = acct.Handle
	rj := atmigrate(t, env, append(args, "--json")...)
	var v struct {
		DID     string
		OK      bool
		Summary string
		Checks  []struct{ Name, Result string }
	}
	if err := json.Unmarshal([]byte(rj.stdout), &v); rj.code != 0 || err != nil || v.DID != acct.DID || !v.OK || v.Summary == "" {
		t.Fatalf("verify --account HANDLE --json: want exit 0 and the report of %s: %v\n%s", acct.DID, err, rj)
	}
	if len(v.Checks) != strings.Count(r.stdout, "\n") {
		t.Errorf("%d checks in the JSON, %d lines in the text", len(v.Checks), strings.Count(r.stdout, "\n"))
	}
	for _, c := range v.Checks {
		if c.Result != "ok" || !strings.Contains(r.stdout, "ok    "+c.Name) {
			t.Errorf("check %s: %s in the JSON, text:\n%s", c.Name, c.Result, r.stdout)
		}
	}
}

func TestVerifyDetectsDeletedRecord(t *testing.T) {
	net := sharedNet(t)
	acct, _ := migrated(t, net)
	acct.PDS = net.B
	c, err := acct.Client(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	list, err := agnostic.RepoListRecords(ctxT(t), c, "app.bsky.feed.post", "", 1, acct.DID, false)
	if err != nil || len(list.Records) == 0 {
		t.Fatalf("list records: %v", err)
	}
	rkey := list.Records[0].Uri[strings.LastIndex(list.Records[0].Uri, "/")+1:]
	if _, err := comatproto.RepoDeleteRecord(ctxT(t), c, &comatproto.RepoDeleteRecord_Input{Repo: acct.DID, Collection: "app.bsky.feed.post", Rkey: rkey}); err != nil {
		t.Fatal(err)
	}
	env, args := verifyArgs(net, acct)
	r := atmigrate(t, env, args...)
	if r.code != 1 {
		t.Fatalf("verify: want exit 1\n%s", r)
	}
	mustContain(t, r, "FAIL  records", "missing on the new PDS: app.bsky.feed.post/"+rkey)
}

func TestVerifyDetectsMissingBlob(t *testing.T) {
	net := sharedNet(t)
	acct, _ := migrated(t, net)
	victim := acct.Blobs[0]
	matches, _ := filepath.Glob(filepath.Join(net.B.DataDir, "*", acct.DID, victim))
	if len(matches) != 1 {
		t.Fatalf("blob file for %s on B: %v", victim, matches)
	}
	if err := os.Remove(matches[0]); err != nil {
		t.Fatal(err)
	}
	env, args := verifyArgs(net, acct)
	r := atmigrate(t, env, args...)
	if r.code != 1 {
		t.Fatalf("verify: want exit 1\n%s", r)
	}
	mustContain(t, r, "FAIL  blobs", victim)
}

func TestVerifyDetectsWrongEndpoint(t *testing.T) {
	net := sharedNet(t)
	acct, keyPath := migrated(t, net)
	key, err := plc.LoadPrivateKeyFile(keyPath, "k256")
	if err != nil {
		t.Fatal(err)
	}
	pc := plc.NewClient(net.PLCURL, nil)
	st, err := pc.State(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	op := st.Op
	prev := st.Head.CID
	op.Prev, op.Sig = &prev, nil
	op.Services = map[string]didplc.OpService{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://wrong.example"}}
	if err := plc.Sign(&op, key); err != nil {
		t.Fatal(err)
	}
	if err := pc.Submit(ctxT(t), acct.DID, &op); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	env, args := verifyArgs(net, acct)
	r := atmigrate(t, env, args...)
	if r.code != 1 {
		t.Fatalf("verify: want exit 1\n%s", r)
	}
	mustContain(t, r, "FAIL  did-endpoint", "wrong.example")
}
