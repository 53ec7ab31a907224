package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// TestEarlyRepoDownload: the repo download starts before the login (it is
// public) and the export stage uses it as is, so an active account's repo
// is requested exactly once, without a session. An account the user
// already deactivated on the old PDS cannot be read that way: the export
// stage downloads it again with the session and the migration completes.
func TestEarlyRepoDownload(t *testing.T) {
	net := sharedNet(t)
	for _, deactivated := range []bool{false, true} {
		name := "active"
		if deactivated {
			name = "deactivated"
		}
		t.Run(name, func(t *testing.T) {
			acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("early"), Posts: 300, Blobs: 5, BlobMinBytes: 5_000, BlobMaxBytes: 20_000, Profile: true, Preferences: true})
			a := login(t, net.A.URL, acct.DID, acct.Password)
			if deactivated {
				if err := a.DeactivateAccount(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
			before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
			token := plcTokenFor(t, net, acct)

			var mu sync.Mutex
			downloads := map[string]int{} // "anonymous" or "session" -> getRepo requests
			proxy := newFaultProxy(t, net.A.URL)
			proxy.rule(func(r *http.Request) fault {
				if strings.HasSuffix(r.URL.Path, "com.atproto.sync.getRepo") {
					kind := "anonymous"
					if r.Header.Get("Authorization") != "" {
						kind = "session"
					}
					mu.Lock()
					downloads[kind]++
					mu.Unlock()
				}
				return fault{}
			})
			env := migrateEnv(net, acct)
			env["ATMIGRATE_PLC_TOKEN"] = token
			r := atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir(), "--old-pds", proxy.URL)
			if r.code != 0 {
				t.Fatalf("want exit 0\n%s", r)
			}
			assertMigrated(t, net, acct, before, "")

			mu.Lock()
			defer mu.Unlock()
			want := map[string]int{"anonymous": 1}
			if deactivated {
				want["session"] = 1
			}
			if downloads["anonymous"] != want["anonymous"] || downloads["session"] != want["session"] {
				t.Errorf("getRepo requests: %v, want %v", downloads, want)
			}
		})
	}
}
