package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
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
		{"bad concurrency", nil, []string{"--concurrency", "0"}, "--concurrency"},
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
// preflight without one, and the migration goes through with one.
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
}

func assertNoAccount(t *testing.T, p *localnet.PDS, did string) {
	t.Helper()
	_, err := pds.New(p.URL, pds.Options{}).GetRepoStatus(ctxT(t), did)
	if pds.ErrorName(err) != "RepoNotFound" {
		t.Errorf("B has something for %s: %v", did, err)
	}
}
