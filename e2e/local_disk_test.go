package e2e

// The user's own machine: a full disk, damaged local copies, a catch-up
// killed between its steps. Each must end in a finished migration, never
// in a loop of retries or a junk blob on the new PDS.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// smallDisk mounts a tmpfs of size (like "1m") for the test, or skips it
// where the test may not mount one.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func growDisk(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v %s", dir, err, out)
	}
}

// TestFullDiskThenFreed runs a migration that keeps every blob copy
// (--keep-data) on a disk that cannot hold them: nothing frees room, so
// the full disk stops it at once (exit 1, the path and the space named, no
// retries of the write), and it finishes once space is freed. Without
// --keep-data the same disk is enough (TestSmallStateDisk).
func TestFullDiskThenFreed(t *testing.T) {
	net := sharedNet(t)
	disk := smallDisk(t, "1m")
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("disk"), Posts: 10, Blobs: 10,
		BlobMinBytes: 150_000, BlobMaxBytes: 250_000, RecoveryKey: userDK})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	args := []string{"migrate", "--state-dir", filepath.Join(disk, "state"), "--yes", "--rotation-key", keyPath, "--keep-data", "--blob-concurrency", "1"}

	start := time.Now()
	r := runBin(t, migrateEnv(net, acct), args...)
	took := time.Since(start)
	if r.code != 1 {
		t.Fatalf("full disk: want exit 1 (resumable once space is freed)\n%s", r)
	}
	mustContain(t, r.run, "no space left on device", "MB free in", "free some space")
	if strings.Contains(r.stderr, "retrying") {
		t.Errorf("a write to a full disk was retried like a network error:\n%s", r)
	}
	if took > 60*time.Second {
		t.Errorf("the run took %s to give up on a full disk", took)
	}
	if rcEndpoint(t, net, acct.DID) != net.A.URL {
		t.Fatalf("the DID moved although the blobs could not be copied")
	}

	growDisk(t, disk, "20m")
	r = runBin(t, migrateEnv(net, acct), args...)
	if r.code != 0 {
		t.Fatalf("after freeing space: want exit 0\n%s", r)
	}
	assertMigrated(t, net, acct, before, "")
	report(t, "full-disk test: --keep-data stopped after "+took.Round(100*time.Millisecond).String()+" on a 1 MB state disk, finished once it grew to 20 MB")
}

// TestDiskSmallerThanTheLargestBlob: no window helps when the largest blob
// does not fit beside the room kept for the repo's and the state's
// temporary copies. The run says so once the export has listed the blobs,
// before anything is written to the new PDS (exit 2).
func TestDiskSmallerThanTheLargestBlob(t *testing.T) {
	net := sharedNet(t)
	disk := smallDisk(t, "1m")
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("huge"), Posts: 5, Blobs: 2,
		BlobMinBytes: 900_000, BlobMaxBytes: 950_000, RecoveryKey: userDK})
	r := runBin(t, migrateEnv(net, acct), "migrate", "--state-dir", filepath.Join(disk, "state"), "--yes", "--rotation-key", keyPath)
	if r.code != 2 {
		t.Fatalf("a blob larger than the disk: want exit 2\n%s", r)
	}
	mustContain(t, r.run, "MB free", "the largest blob", "nothing was written to the new PDS")
	assertNoAccount(t, net.B, acct.DID)
}

// TestSmallStateDisk moves 2 MB of blobs through a 1 MB state disk: each
// blob's copy goes once the new PDS has it, so disk use follows the window,
// not the account. Eight uploads at once do not fit there either: the
// upload workers take turns, and the run finishes.
func TestSmallStateDisk(t *testing.T) {
	net := sharedNet(t)
	disk := smallDisk(t, "1m")
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("small"), Posts: 10, Blobs: 10,
		BlobMinBytes: 180_000, BlobMaxBytes: 250_000, RecoveryKey: userDK})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	args := []string{"migrate", "--state-dir", filepath.Join(disk, "state"), "--yes", "--rotation-key", keyPath, "--blob-concurrency", "8"}

	r := runBin(t, migrateEnv(net, acct), args...)
	if r.code != 0 {
		t.Fatalf("8 blobs in flight on a 1 MB disk: want exit 0 (the workers take turns)\n%s", r)
	}
	assertMigrated(t, net, acct, before, "")
	st := loadState(t, filepath.Join(disk, "state"))
	if st.Blobs.PeakDiskBytes <= 0 || st.Blobs.PeakDiskBytes >= 1<<20 {
		t.Errorf("peak blob bytes on disk %d, want under 1 MB", st.Blobs.PeakDiskBytes)
	}
	if st.Disk.PeakBytes <= 0 || st.Disk.PeakBytes > 1<<20 {
		t.Errorf("measured peak of the run's files %d, want 1..%d (the disk)", st.Disk.PeakBytes, 1<<20)
	}
	report(t, fmt.Sprintf("small-disk test: %.1f MB of blobs through a 1 MB state disk with --blob-concurrency 8, at most %.2f MB of blobs and %.2f MB of the run's files on it at once",
		float64(st.Blobs.TotalBytes)/1e6, float64(st.Blobs.PeakDiskBytes)/1e6, float64(st.Disk.PeakBytes)/1e6))
}

// TestDiskBudgetBoundsPeak needs no privileges: a small --disk-budget
// keeps the blob bytes in the state dir under it (plus the blobs in
// flight), far below the account's.
func TestDiskBudgetBoundsPeak(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("budget"), Posts: 10, Blobs: 30,
		BlobMinBytes: 40_000, BlobMaxBytes: 60_000, RecoveryKey: userDK})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	state := t.TempDir()
	r := runBin(t, migrateEnv(net, acct), "migrate", "--state-dir", state, "--yes", "--rotation-key", keyPath,
		"--disk-budget", "100KB", "--blob-concurrency", "2")
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r)
	}
	assertMigrated(t, net, acct, before, "")
	st := loadState(t, state)
	// The window, plus one blob per prefetch worker that found room and
	// one per upload worker.
	bound := int64(100_000 + 4*60_000)
	if st.Blobs.PeakDiskBytes <= 0 || st.Blobs.PeakDiskBytes > bound {
		t.Errorf("peak blob bytes on disk %d, want 1..%d (the account has %d)", st.Blobs.PeakDiskBytes, bound, st.Blobs.TotalBytes)
	}
	if fileExists(filepath.Join(state, "blobs")) || fileExists(filepath.Join(state, "repo.car")) {
		t.Errorf("transfer copies left in the state dir after success")
	}
	report(t, fmt.Sprintf("disk-budget test: %.2f MB of blobs with --disk-budget 100KB, at most %.2f MB on disk at once",
		float64(st.Blobs.TotalBytes)/1e6, float64(st.Blobs.PeakDiskBytes)/1e6))
}

// TestDamagedLocalCopiesAfterKill kills a migration while it prefetches
// blobs, damages every file it left (blobs and repo.car, same lengths,
// other bytes), and runs it again: each damaged copy is noticed, deleted
// and fetched again; none is uploaded.
func TestDamagedLocalCopiesAfterKill(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("dmg"), Posts: 40, Blobs: 12,
		BlobMinBytes: 5_000, BlobMaxBytes: 20_000, RecoveryKey: userDK})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	pb := newFrontProxy(t, net.B.URL)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes", "--rotation-key", keyPath}

	// Hold createAccount back so the prefetch gets to its sixth blob first.
	pb.setDelay(func(nsid string, _ int) time.Duration {
		if nsid == "com.atproto.server.createAccount" {
			return 3 * time.Second
		}
		return 0
	})
	r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", "blob-downloaded#6"), args...)
	pb.setDelay(nil)
	if !r.killed() {
		t.Fatalf("want the kill during the prefetch\n%s", r)
	}
	blobs, _ := filepath.Glob(filepath.Join(state, "blobs", "baf*"))
	if len(blobs) < 5 {
		t.Fatalf("%d blob files left by the killed run, want at least 5", len(blobs))
	}
	for _, p := range append(blobs, filepath.Join(state, "repo.car")) {
		damage(t, p)
	}

	r = runBin(t, env, args...)
	if r.code != 0 {
		t.Fatalf("after the damage: want exit 0\n%s", r)
	}
	mustContain(t, r.run, "the local copy of the repo was damaged", "was damaged: deleted, fetching it again")
	if n, want := pb.callCount("com.atproto.repo.uploadBlob"), len(before.blobs); n != want {
		t.Errorf("%d uploads for %d blobs: a damaged copy was uploaded", n, want)
	}
	assertMigrated(t, net, acct, before, "")
	report(t, fmt.Sprintf("damaged-copies test: %d blob files and repo.car damaged after a kill; each fetched again, none uploaded, migration finished", len(blobs)))
}

// damage overwrites a file with as many other bytes.
func damage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCatchUpFallbackKilled kills the catch-up's fallback to a full import
// between its steps (after the import, after the state names the new
// commit but before repo.car is replaced); the next run still finishes
// with every record, including the one that forced the fallback.
func TestCatchUpFallbackKilled(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("fbk"), Posts: 60, Blobs: 3, BlobMinBytes: 2_000, BlobMaxBytes: 5_000})
	ctx := ctxT(t)
	c, err := acct.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": "said twice", "createdAt": "2024-01-02T03:04:05.000Z"}
	if _, err := agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{Collection: "app.bsky.feed.post", Repo: acct.DID, Record: rec}); err != nil {
		t.Fatal(err)
	}
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	if r := runBin(t, env, args...); r.code != 3 {
		t.Fatalf("first run: want the pause for the token\n%s", r)
	}
	// The same record again: its diff cannot be imported, so the catch-up
	// falls back to a full import.
	if _, err := agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{Collection: "app.bsky.feed.post", Repo: acct.DID, Record: rec}); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	token := plcTokenFor(t, net, acct)
	for _, point := range []string{"catchup-full-imported", "catchup-state-saved"} {
		r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", point, "ATMIGRATE_PLC_TOKEN", token), args...)
		if !r.killed() {
			t.Fatalf("want the kill at %s\n%s", point, r)
		}
	}
	r := runBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if r.code != 0 {
		t.Fatalf("after the kills: want exit 0\n%s", r)
	}
	assertOneMigration(t, net, acct, before)
}
