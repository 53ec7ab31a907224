package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// TestCatchUpWritesDuringMigration writes to the old account while the
// migration waits for the PLC token (the data is on B by then): a post and
// a post with a new image. The run with the token must import the
// difference and copy the new blob before the switch, so both are on B
// afterwards with the CIDs they have on A.
func TestCatchUpWritesDuringMigration(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("catchup"), Posts: 200, Blobs: 10,
		BlobMinBytes: 5_000, BlobMaxBytes: 15_000,
	})
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run: want exit 3\n%s", r)
	}

	ctx := ctxT(t)
	uri, cid, err := acct.Post(ctx, "written after export")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := acct.PostWithImage(ctx, 12_000)
	if err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	path := recordPath(t, uri)
	if before.records[path] != cid {
		t.Fatalf("A has %s as %q, createRecord said %q", path, before.records[path], cid)
	}

	r = runWithToken(t, net, acct, env, args...)
	mustContain(t, r.run, "importing the difference")
	if strings.Contains(r.stderr, "refused the difference") {
		t.Errorf("a plain diff fell back to a full import:\n%s", r)
	}
	assertOneMigration(t, net, acct, before)
	after := takeSnapshot(t, net.B.URL, acct.DID, acct.Password)
	if after.records[path] != cid {
		t.Errorf("the post written after the export: %q on B, want %q", after.records[path], cid)
	}
	if !contains(after.blobs, blob) {
		t.Errorf("the blob uploaded after the export (%s) is not on B", blob)
	}
	t.Logf("catch-up: post %s and blob %s made it to B (%s)", path, blob, time.Since(start).Round(100*time.Millisecond))
}

// TestCatchUpFallbackFullImport writes, after the export, a record that is
// byte-identical to one already exported (same CID, new rkey). The
// reference PDS cannot import that diff (it reads record blocks only from
// the uploaded CAR and the diff leaves the old block out: 400
// InvalidRequest "Could not parse record"); the pipeline must fall back to
// a full export and import and still end with every record.
func TestCatchUpFallbackFullImport(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("fallback"), Posts: 200, Blobs: 5,
		BlobMinBytes: 5_000, BlobMaxBytes: 10_000,
	})
	ctx := ctxT(t)
	c, err := acct.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": "said twice", "createdAt": "2024-01-02T03:04:05.000Z"}
	first, err := agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{Collection: "app.bsky.feed.post", Repo: acct.DID, Record: rec})
	if err != nil {
		t.Fatal(err)
	}

	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run: want exit 3\n%s", r)
	}

	second, err := agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{Collection: "app.bsky.feed.post", Repo: acct.DID, Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	if second.Cid != first.Cid || second.Uri == first.Uri {
		t.Fatalf("want the same CID under a new rkey: %s %s, %s %s", first.Uri, first.Cid, second.Uri, second.Cid)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)

	r = runWithToken(t, net, acct, env, args...)
	mustContain(t, r.run, "refused the difference", "importing the full repo")
	assertOneMigration(t, net, acct, before)
	after := takeSnapshot(t, net.B.URL, acct.DID, acct.Password)
	if p := recordPath(t, second.Uri); after.records[p] != second.Cid {
		t.Errorf("the repeated record %s: %q on B, want %q", p, after.records[p], second.Cid)
	}
	t.Logf("catch-up fallback: full import after the refused diff (%s)", time.Since(start).Round(100*time.Millisecond))
}

// recordPath turns at://did/collection/rkey into collection/rkey.
func recordPath(t *testing.T, uri string) string {
	t.Helper()
	parts := strings.SplitN(strings.TrimPrefix(uri, "at://"), "/", 2)
	if len(parts) != 2 {
		t.Fatalf("bad record URI %q", uri)
	}
	return parts[1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
