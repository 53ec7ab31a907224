package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/batch"
)

// TestBadInput: each mistake gets exit 2, a one-line error and a hint,
// and nothing is written to B.
func TestBadInput(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("bad"), Posts: 5, Blobs: 1, BlobMinBytes: 1000, BlobMaxBytes: 2000})

	notPDS := httptest.NewServer(http.NotFoundHandler())
	defer notPDS.Close()
	twoFA := newFaultProxy(t, net.A.URL)
	twoFA.rule(func(r *http.Request) fault {
		if strings.HasSuffix(r.URL.Path, "com.atproto.server.createSession") {
			return fault{status: 401, body: `{"error":"AuthFactorTokenRequired","message":"A sign in code has been sent to your email address"}`}
		}
		return fault{}
	})

	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wrong password", map[string]string{"ATMIGRATE_OLD_PASSWORD": "not-the-password"}, nil, "refused the password"},
		{"2FA code needed", nil, []string{"--old-pds", twoFA.URL}, "sign-in code"},
		{"unknown DID", map[string]string{"ATMIGRATE_ACCOUNT": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"}, nil, "does not know"},
		{"unknown handle", map[string]string{"ATMIGRATE_ACCOUNT": "nobody-here.test"}, []string{"--old-pds", net.A.URL}, "does not know the handle"},
		{"unreachable new PDS", map[string]string{"ATMIGRATE_NEW_PDS": "http://127.0.0.1:1"}, nil, "does not answer as a PDS"},
		{"not a PDS", map[string]string{"ATMIGRATE_NEW_PDS": notPDS.URL}, nil, "does not answer as a PDS"},
		{"handle not allowed", nil, []string{"--new-handle", "someone.example.com"}, "not allowed"},
		{"bad blob concurrency", nil, []string{"--blob-concurrency", "0"}, "--blob-concurrency must be between"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := migrateEnv(net, acct)
			for k, v := range c.env {
				env[k] = v
			}
			args := append([]string{"migrate", "--yes", "--state-dir", t.TempDir()}, c.args...)
			r := atmigrate(t, env, args...)
			if r.code != 2 {
				t.Fatalf("want exit 2\n%s", r)
			}
			mustContain(t, r, c.want, "atmigrate: error:", "atmigrate: hint:")
			assertNoAccount(t, net.B, acct.DID)
			if strings.Contains(r.stderr, acct.Password) {
				t.Errorf("the password leaked into the output")
			}
		})
	}
}

// TestInviteRequired: a new PDS that wants an invite is refused at
// preflight without one or with a bogus one, and the migration goes through
// with a real one. A batch gets one invite per account from the new PDS's
// admin password, and a wrong admin password fails its accounts for good,
// with a hint.
func TestInviteRequired(t *testing.T) {
	net := newNet(t, localnet.Options{InviteRequiredB: true})
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("inv"), Posts: 3})
	env := migrateEnv(net, acct)
	r := atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir())
	if r.code != 2 {
		t.Fatalf("want exit 2\n%s", r)
	}
	mustContain(t, r, "requires an invite code", "--invite-code")
	assertNoAccount(t, net.B, acct.DID)

	r = atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir(), "--invite-code", "bogus-code-1234")
	if r.code != 2 {
		t.Fatalf("bogus invite: want exit 2\n%s", r)
	}
	mustContain(t, r, "invite code")

	code, err := net.B.CreateInviteCode(ctxT(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	env["ATMIGRATE_PLC_TOKEN"] = plcTokenFor(t, net, acct)
	r = atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir(), "--invite-code", code)
	if r.code != 0 {
		t.Fatalf("with a real invite: want exit 0\n%s", r)
	}
	assertMigrated(t, net, acct, before, "")

	// batch: invites from the admin password.
	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	runBatch := func(adminPassword string, accts ...*localnet.Account) (run, batch.Report) {
		t.Helper()
		var sb strings.Builder
		sb.WriteString("account,old_password\n")
		for _, a := range accts {
			fmt.Fprintf(&sb, "%s,env:BATCH_PW\n", a.DID)
		}
		state := filepath.Join(t.TempDir(), "state")
		accounts := writeFile(t, filepath.Join(t.TempDir(), "accounts.csv"), sb.String())
		env := map[string]string{"BATCH_PW": localnet.DefaultPassword, "ATMIGRATE_NEW_PDS_ADMIN_PASSWORD": adminPassword}
		r := atmigrate(t, env, "batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
			"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--plc-rotation-key", keyFile, "--yes")
		return r, readReport(t, state)
	}
	wrong := seed(t, net.A, localnet.SeedSpec{Handle: uniq("invw"), Posts: 3})
	r, rep := runBatch("not-the-admin-password", wrong)
	if r.code != 1 {
		t.Fatalf("batch with a wrong admin password: want exit 1\n%s", r)
	}
	if e := reportEntry(t, rep, wrong.DID); e.Status != batch.FailedPermanent || !strings.Contains(e.Error, "invite code") || !strings.Contains(e.Hint, "--new-pds-admin-password") {
		t.Errorf("wrong admin password: %+v", e)
	}
	assertNoAccount(t, net.B, wrong.DID)

	accts := []*localnet.Account{wrong,
		seed(t, net.A, localnet.SeedSpec{Handle: uniq("invb"), Posts: 20, Blobs: 2, BlobMinBytes: 5_000, BlobMaxBytes: 10_000})}
	befores := []snapshot{takeSnapshot(t, net.A.URL, accts[0].DID, accts[0].Password), takeSnapshot(t, net.A.URL, accts[1].DID, accts[1].Password)}
	r, rep = runBatch(net.B.AdminPassword, accts...)
	if r.code != 0 {
		t.Fatalf("batch with the admin password: want exit 0\n%s", r)
	}
	for i, a := range accts {
		if e := reportEntry(t, rep, a.DID); e.Status != batch.Migrated {
			t.Errorf("%s: %+v", a.Handle, e)
		}
		assertMigrated(t, net, a, befores[i], "")
	}
}

// plcTokenFor has A email acct a PLC token and reads it from the mail log.
func plcTokenFor(t *testing.T, net *localnet.Network, acct *localnet.Account) string {
	t.Helper()
	if err := login(t, net.A.URL, acct.DID, acct.Password).RequestPlcOperationSignature(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func assertNoAccount(t *testing.T, p *localnet.PDS, did string) {
	t.Helper()
	_, err := pds.New(p.URL, pds.Options{}).GetRepoStatus(ctxT(t), did)
	if pds.ErrorName(err) != "RepoNotFound" {
		t.Errorf("B has something for %s: %v", did, err)
	}
}
