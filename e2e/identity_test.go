package e2e

import (
	"bytes"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// userKey makes a rotation key for a test and writes it 0600.
func userKey(t *testing.T) (path, didKey string) {
	t.Helper()
	k, err := plc.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "rotation.key")
	if err := plc.WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	dk, err := plc.DIDKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return path, dk
}

func rotationKeys(t *testing.T, net *localnet.Network, did string) []string {
	t.Helper()
	st, err := plc.NewClient(net.PLCURL, nil).State(ctxT(t), did)
	if err != nil {
		t.Fatal(err)
	}
	return st.RotationKeys()
}

func newPDSRotationKey(t *testing.T, net *localnet.Network, did, password string) string {
	t.Helper()
	cred, err := login(t, net.B.URL, did, password).GetRecommendedDidCredentials(ctxT(t))
	if err != nil || len(cred.RotationKeys) != 1 {
		t.Fatalf("B's recommended credentials: %+v %v", cred, err)
	}
	return cred.RotationKeys[0]
}

func plcMails(t *testing.T, p *localnet.PDS, email string) int {
	t.Helper()
	mails, err := p.Mail()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mails {
		if strings.EqualFold(m.To, email) && m.Template == localnet.MailTemplatePLCOperation {
			n++
		}
	}
	return n
}

// TestRotationKeyMigration: an account created with the user's recovery
// key moves with --rotation-key, without any email token, and ends with
// rotation keys [user key, B's key] in that order.
func TestRotationKeyMigration(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("rk"), Posts: 150, Blobs: 10, BlobMinBytes: 2000, BlobMaxBytes: 20000, Preferences: true, RecoveryKey: userDK})
	if ks := rotationKeys(t, net, acct.DID); len(ks) != 2 || ks[0] != userDK {
		t.Fatalf("seeded rotation keys %v, want the user key first", ks)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)

	// A key the DID does not list is refused at preflight, before B is touched.
	otherPath, _ := userKey(t)
	r := atmigrate(t, migrateEnv(net, acct), "migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", otherPath)
	if r.code != 2 {
		t.Fatalf("foreign rotation key: want exit 2\n%s", r)
	}
	mustContain(t, r, "not one of")
	assertNoAccount(t, net.B, acct.DID)

	r = atmigrate(t, migrateEnv(net, acct), "migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath)
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	log := assertMigrated(t, net, acct, before, "")
	if n := migrationOps(t, log, net.B.URL); n != 1 {
		t.Errorf("%d migration ops, want 1", n)
	}
	want := []string{userDK, newPDSRotationKey(t, net, acct.DID, acct.Password)}
	if got := rotationKeys(t, net, acct.DID); !reflect.DeepEqual(got, want) {
		t.Errorf("rotation keys %v, want %v", got, want)
	}
	if n := plcMails(t, net.A, acct.Email); n != 0 {
		t.Errorf("%d PLC token emails sent, want none", n)
	}
}

// TestAddRotationKeyThenMigrate: a key added with `atmigrate plc
// add-rotation-key` (email token flow) survives a token-signed migration
// at the top of the rotation keys; the old PDS's key is dropped.
func TestAddRotationKeyThenMigrate(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("ak"), Posts: 20, Blobs: 2, BlobMinBytes: 2000, BlobMaxBytes: 5000})

	r := atmigrate(t, nil, "plc", "keygen", "--out", filepath.Join(t.TempDir(), "k"))
	if r.code != 0 {
		t.Fatalf("keygen: %s", r)
	}
	userDK := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(userDK, "did:key:") {
		t.Fatalf("keygen printed %q", r.stdout)
	}
	// The first run uses the password's old env var, kept for one release:
	// it must still log in (with a warning).
	env := map[string]string{"ATMIGRATE_PASSWORD": acct.Password, "ATMIGRATE_PLC_URL": net.PLCURL}
	args := []string{"plc", "add-rotation-key", "--account", acct.DID, "--key", userDK, "--yes"}
	r = atmigrate(t, env, args...)
	if r.code != 3 {
		t.Fatalf("add-rotation-key without a token (old ATMIGRATE_PASSWORD): want exit 3\n%s", r)
	}
	mustContain(t, r, "ATMIGRATE_PASSWORD) is the old spelling of --old-password")
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_PLC_URL": net.PLCURL, "ATMIGRATE_PLC_TOKEN": token}
	r = atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("add-rotation-key with the token: %s", r)
	}
	if ks := rotationKeys(t, net, acct.DID); len(ks) != 2 || ks[0] != userDK || ks[1] != net.A.RotationKeyDID {
		t.Fatalf("after add-rotation-key: %v, want [%s %s]", ks, userDK, net.A.RotationKeyDID)
	}
	r = atmigrate(t, nil, "plc", "log", "--account", acct.DID, "--plc-url", net.PLCURL)
	if r.code != 0 || !strings.Contains(r.stdout, userDK) {
		t.Fatalf("plc log: %s", r)
	}

	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	menv := migrateEnv(net, acct)
	state := t.TempDir()
	if r = atmigrate(t, menv, "migrate", "--yes", "--state-dir", state); r.code != 3 {
		t.Fatalf("migrate without a token: want exit 3\n%s", r)
	}
	token, err = net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	menv["ATMIGRATE_PLC_TOKEN"] = token
	if r = atmigrate(t, menv, "migrate", "--yes", "--state-dir", state); r.code != 0 {
		t.Fatalf("migrate with the token: %s", r)
	}
	assertMigrated(t, net, acct, before, "")
	want := []string{userDK, newPDSRotationKey(t, net, acct.DID, acct.Password)}
	if got := rotationKeys(t, net, acct.DID); !reflect.DeepEqual(got, want) {
		t.Errorf("rotation keys %v, want %v (user key kept first, A's key dropped)", got, want)
	}
}

// TestTamperedOperationRefused: an old PDS that returns a different
// operation from the one asked for (here: another endpoint) is caught by
// the local checks; nothing is submitted and the old account stays active.
func TestTamperedOperationRefused(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("tamper"), Posts: 10})
	proxy := newFaultProxy(t, net.A.URL)
	proxy.rule(func(r *http.Request) fault {
		if strings.HasSuffix(r.URL.Path, "com.atproto.identity.signPlcOperation") {
			return fault{rewrite: func(b []byte) []byte {
				return bytes.ReplaceAll(b, []byte(net.B.URL), []byte("https://evil.example"))
			}}
		}
		return fault{}
	})
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--yes", "--state-dir", state, "--old-pds", proxy.URL}
	if r := atmigrate(t, env, args...); r.code != 3 {
		t.Fatalf("want exit 3 (token)\n%s", r)
	}
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	env["ATMIGRATE_PLC_TOKEN"] = token
	r := atmigrate(t, env, args...)
	if r.code != 1 {
		t.Fatalf("tampered op: want exit 1\n%s", r)
	}
	mustContain(t, r, "failed its checks", "evil.example")
	if proxy.counts()["rewrite"] != 1 {
		t.Errorf("the proxy rewrote %d responses", proxy.counts()["rewrite"])
	}
	logAfter, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(logAfter) != len(logBefore) {
		t.Errorf("the audit log changed: %d ops, was %d", len(logAfter), len(logBefore))
	}
	if rs, err := login(t, net.A.URL, acct.DID, acct.Password).GetRepoStatus(ctxT(t), acct.DID); err != nil || !rs.Active {
		t.Errorf("A must still be active: %+v %v", rs, err)
	}
}
