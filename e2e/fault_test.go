package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

const (
	nsidGetBlob    = "com.atproto.sync.getBlob"
	nsidGetRepo    = "com.atproto.sync.getRepo"
	nsidUploadBlob = "com.atproto.repo.uploadBlob"
	nsidImportRepo = "com.atproto.repo.importRepo"
	nsidRefresh    = "com.atproto.server.refreshSession"
)

// is reports whether r is a call to nsid and which one it is.
func is(r *http.Request, nsid string) (int, bool) {
	if nsidOf(r) != nsid {
		return 0, false
	}
	return callN(r), true
}

// TestFaultInjection migrates through proxies in front of both PDSes that
// answer 500, reset connections mid-body (downloads and uploads), truncate
// bodies, and rate-limit with 429 + RateLimit-Reset. Every fault must be
// absorbed by the retries of the first run (which then pauses for the PLC
// token as usual), and the result must be exact. B's public URL differs
// from --new-pds here, so the endpoint written to the DID document must
// come from B, not from the flag.
func TestFaultInjection(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("fault"), Posts: 250, Blobs: 25,
		BlobMinBytes: 5_000, BlobMaxBytes: 20_000, Preferences: true, Profile: true,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)

	pa := newFrontProxy(t, net.A.URL)
	pa.rule(func(r *http.Request) fault {
		if n, ok := is(r, nsidGetRepo); ok && n == 1 {
			return fault{cutResponseAfter: 2_000} // reset mid-CAR
		}
		if n, ok := is(r, nsidGetRepo); ok && n == 2 {
			return serverError()
		}
		n, ok := is(r, nsidGetBlob)
		switch {
		case !ok:
		case n <= 2:
			return serverError()
		case n == 4 || n == 9:
			return fault{cutResponseAfter: 1_000} // reset mid-blob
		case n == 6 || n == 7:
			return rateLimited(2 * time.Second)
		}
		return fault{}
	})
	// A body that ends properly but short: only the CID check sees it.
	pa.setTruncate(func(nsid string, n int) bool { return nsid == nsidGetBlob && (n == 5 || n == 11) })

	pb := newFrontProxy(t, net.B.URL)
	pb.rule(func(r *http.Request) fault {
		if n, ok := is(r, nsidImportRepo); ok && n == 1 {
			return serverError()
		}
		n, ok := is(r, nsidUploadBlob)
		switch {
		case !ok:
		case n == 2 || n == 8:
			return fault{cutRequestAfter: 2_000} // upload reset mid-body
		case n == 4 || n == 5 || n == 12:
			return rateLimited(time.Second + 500*time.Millisecond)
		case n == 10:
			return fault{cutResponseAfter: 5} // stored, but the answer is lost
		case n == 14:
			return serverError()
		}
		return fault{}
	})

	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	state := t.TempDir()
	args := []string{"migrate", "--old-pds", pa.URL, "--state-dir", state, "--yes"}

	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run under faults: want the pause for the token (exit 3)\n%s", r)
	}
	mustContain(t, r.run, "rate limited by", "retrying in")
	firstRun := r.wall
	r = runWithToken(t, net, acct, env, args...)
	assertOneMigration(t, net, acct, before)
	fa, fb := pa.faults(), pb.faults()
	for _, want := range []struct {
		name  string
		got   map[string]int
		kinds []string
	}{
		{"A", fa, []string{"500", "429", "cut-response", "truncated-body"}},
		{"B", fb, []string{"500", "429", "cut-request", "cut-response"}},
	} {
		for _, k := range want.kinds {
			if want.got[k] == 0 {
				t.Errorf("no %s fault was injected in front of %s: %v", k, want.name, want.got)
			}
		}
	}
	summary := fmt.Sprintf("fault test: migrated %d records and %d blobs through faults: old PDS %s; new PDS %s; first run %s, test %s",
		len(before.records), len(before.blobs), faultSummary(fa), faultSummary(fb),
		firstRun.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	report(t, summary)
}

// TestFaultExpiredToken expires the access token in the middle of the
// transfers: the import, an upload and a blob download are answered 400
// ExpiredToken once. The client must refresh the session (a real
// refreshSession through the proxy) and send the request again, body
// included, and the migration must finish.
func TestFaultExpiredToken(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("expired"), Posts: 200, Blobs: 20,
		BlobMinBytes: 5_000, BlobMaxBytes: 15_000,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)

	pa := newFrontProxy(t, net.A.URL)
	pa.rule(func(r *http.Request) fault {
		if n, ok := is(r, nsidGetBlob); ok && n == 3 {
			return expiredToken()
		}
		return fault{}
	})
	pb := newFrontProxy(t, net.B.URL)
	pb.rule(func(r *http.Request) fault {
		if n, ok := is(r, nsidImportRepo); ok && n == 1 {
			return expiredToken()
		}
		if n, ok := is(r, nsidUploadBlob); ok && n == 6 {
			return expiredToken()
		}
		return fault{}
	})

	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	state := t.TempDir()
	args := []string{"migrate", "--old-pds", pa.URL, "--state-dir", state, "--yes"}
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run with expiring tokens: want exit 3\n%s", r)
	}
	// A word of its own: the state dir's path holds the test's name.
	if regexp.MustCompile(`\bExpiredToken\b`).MatchString(r.stderr) {
		t.Errorf("an expired token reached the user instead of being refreshed:\n%s", r)
	}
	refreshA, refreshB := pa.callCount(nsidRefresh), pb.callCount(nsidRefresh)
	if refreshB < 2 || refreshA < 1 {
		t.Errorf("refreshSession calls: %d on A, %d on B; want >= 1 and >= 2 (one per expired token)", refreshA, refreshB)
	}
	if n := pb.callCount(nsidImportRepo); n < 2 {
		t.Errorf("importRepo sent %d times; want the resend after the refresh", n)
	}
	r = runWithToken(t, net, acct, env, args...)
	assertOneMigration(t, net, acct, before)
	summary := fmt.Sprintf("expired-token test: %d ExpiredToken answers (A %v, B %v), %d refreshSession on A, %d on B; migrated in %s",
		pa.faults()["400"]+pb.faults()["400"], pa.faults(), pb.faults(), refreshA, refreshB, time.Since(start).Round(100*time.Millisecond))
	report(t, summary)
}
