package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
)

// The limits a real PDS enforces, known before anything is written: a
// blob larger than the new PDS accepts, and a new PDS whose rate limits
// allow fewer uploads a day than the account has blobs. B runs PDS 0.5.35
// with the installer's defaults that matter here: rate limits on, the
// default 5 MiB upload limit (which 0.5.x reports in describeServer), and
// the default import limit (PDS_MAX_REPO_IMPORT_SIZE unset: the upload
// limit, not reported). A accepts blobs up to 20 MiB, as a host with a
// raised limit would.

func limitsNet(t *testing.T) *localnet.Network {
	t.Helper()
	return namedNet(t, "limits", localnet.Options{VersionB: localnet.Version05, RateLimitsB: true, DefaultImportLimitB: true, BlobUploadLimitA: 20 << 20}, nil)
}

// TestBlobOverNewPDSLimit: a 6 MiB video-sized blob on an old PDS that
// took it, moving to a PDS that accepts 5 MiB. The dry run names it; the
// real run refuses before the account is created (exit 2, naming the
// blob, its size, the limit and what the admin can change); with
// --skip-oversized-blobs the account moves without it, and the final
// report and verify list it.
func TestBlobOverNewPDSLimit(t *testing.T) {
	net := limitsNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("big"), Posts: 20, Blobs: 3, BlobMinBytes: 2000, BlobMaxBytes: 5000, RecoveryKey: userDK})
	big, err := acct.PostWithVideo(ctxT(t), 6<<20)
	if err != nil {
		t.Fatal(err)
	}
	env := migrateEnv(net, acct)
	env["ATMIGRATE_RATELIMIT_BYPASS_KEY"] = net.B.RateLimitBypassKey // this test is about size
	state := t.TempDir()
	args := []string{"migrate", "--yes", "--state-dir", state, "--rotation-key", keyPath}

	r := atmigrate(t, env, append(args, "--dry-run")...)
	if r.code != 1 {
		t.Fatalf("dry run: want exit 1 (a real run would stop), got\n%s", r)
	}
	mustContain(t, r, big, "6.3 MB", "blob upload limit 5.2 MB, 1 blob(s) over it", "--skip-oversized-blobs")

	r = atmigrate(t, env, args...)
	if r.code != 2 {
		t.Fatalf("want exit 2 (bad input), got\n%s", r)
	}
	mustContain(t, r, big, "6.3 MB", "its upload limit is 5.2 MB", "PDS_BLOB_UPLOAD_LIMIT", "nothing was written to the new PDS")
	if strings.Contains(r.stderr, "run the same command again") {
		t.Errorf("a blob over the limit is not fixed by running again:\n%s", r)
	}
	if _, err := pds.New(net.B.URL, pds.Options{}).GetRepoStatus(ctxT(t), acct.DID); pds.ErrorName(err) != "RepoNotFound" {
		t.Fatalf("the account was created on B before the refusal (getRepoStatus: %v)", err)
	}

	r = atmigrate(t, env, append(args, "--skip-oversized-blobs")...)
	if r.code != 0 {
		t.Fatalf("with --skip-oversized-blobs: want exit 0, got\n%s", r)
	}
	mustContain(t, r, "moving without blob "+big, "moved without 1 blob(s)", "1 left behind at your request")
	if !rcActive(t, net.B.URL, acct.DID) {
		t.Fatal("the account is not active on B")
	}

	v := atmigrate(t, map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_NEW_PASSWORD": acct.Password},
		"verify", "--account", acct.DID, "--old-pds", net.A.URL, "--new-pds", net.B.URL, "--plc-url", net.PLCURL, "--state-dir", state)
	if v.code != 0 {
		t.Fatalf("verify: want exit 0 (left behind on request is a warning), got\n%s", v)
	}
	mustContain(t, v, "warn  blobs-missing", big, "left behind at your request")
	report(t, fmt.Sprintf("size-limit test: a %d-byte blob over B's 5 MiB limit named by the dry run, refused before createAccount (exit 2), moved without on request and listed by verify", 6<<20))
}

// TestRateLimitedNewPDS: B allows 1,000 uploadBlob calls a day and the
// account has more blobs. The dry run says so; the run warns once B has
// told its budget, stops cleanly at the limit (exit 1, the reset time,
// how many uploads are left, the bypass option), and the same command
// with the admin's bypass key finishes.
func TestRateLimitedNewPDS(t *testing.T) {
	net := limitsNet(t)
	keyPath, userDK := userKey(t)
	const blobs = 1010
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("many"), Posts: 10, Blobs: blobs, BlobMinBytes: 100, BlobMaxBytes: 300, RecoveryKey: userDK})
	env := migrateEnv(net, acct)
	args := []string{"migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath}

	r := atmigrate(t, env, append(args, "--dry-run")...)
	mustContain(t, r, fmt.Sprintf("the move needs %d blob uploads", blobs), "has its rate limits on", "--ratelimit-bypass-key")

	start := time.Now()
	r = atmigrate(t, env, args...)
	stopped := time.Since(start)
	if r.code != 1 {
		t.Fatalf("want exit 1 (resumable: stopped at the rate limit), got\n%s", r)
	}
	// The warning comes from the first upload answer the run reads; with
	// uploads in flight that may be the second or third one B counted.
	if !regexp.MustCompile(`allows 99\d more blob uploads until`).MatchString(r.stderr) {
		t.Errorf("no warning of the upload budget before the limit:\n%s", r)
	}
	mustContain(t, r, "allows no more com.atproto.repo.uploadBlob calls until", "blob uploads left to do", "--ratelimit-bypass-key", "run the same command again after")
	if rcEndpoint(t, net, acct.DID) != net.A.URL {
		t.Fatalf("the DID moved although blobs are missing")
	}

	env["ATMIGRATE_RATELIMIT_BYPASS_KEY"] = net.B.RateLimitBypassKey
	r = atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("with the bypass key: want exit 0, got\n%s", r)
	}
	if got := rcEndpoint(t, net, acct.DID); got != net.B.URL {
		t.Fatalf("the DID points at %s, want B", got)
	}
	report(t, fmt.Sprintf("rate-limit test: %d blobs against B's 1,000 uploads a day: stopped at the limit after %s (exit 1, reset time and bypass named), finished with --ratelimit-bypass-key", blobs, stopped.Round(100*time.Millisecond)))
}
