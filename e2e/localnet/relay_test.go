package localnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
)

// The relay tests share one network (each test starts its own relay, and
// each its own accounts), started by the first of them and stopped by
// TestMain.
var shared struct {
	once sync.Once
	n    *Network
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.n != nil {
		shared.n.Close()
	}
	os.Exit(code)
}

// relayNet returns the shared network, or skips the test where the relay
// cannot run.
func relayNet(t *testing.T) *Network {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Node servers and indigo's relay; skipped in -short mode")
	}
	if err := EnsureInstalled(); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRelayInstalled(); err != nil {
		t.Fatal(err)
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		shared.n, shared.err = Start(ctx, Options{})
		if shared.err == nil {
			t.Logf("shared network up in %s: plc %s, A %s, B %s (dir %s)", time.Since(start).Round(time.Millisecond), shared.n.PLCURL, shared.n.A.URL, shared.n.B.URL, shared.n.Dir)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.n
}

// startRelay starts a relay for one test and stops it when the test ends,
// printing its log tail if the test failed.
func startRelay(t *testing.T, n *Network, o RelayOptions) *Relay {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	r, err := n.StartRelay(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s up in %s at %s", r.Name, time.Since(start).Round(time.Millisecond), r.URL)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log tail:\n%s", r.Name, r.LogTail())
		}
		r.Close()
	})
	return r
}

// uniqueHandle makes handles unique on the shared network (go test
// -count=N runs each test N times against it); the PDS allows 18
// characters before ".test".
func uniqueHandle(prefix string) string {
	return prefix + "-" + randomHex(3)
}

// latestRev is the account's latest rev on its PDS.
func latestRev(ctx context.Context, t *testing.T, a *Account) string {
	t.Helper()
	out, err := comatproto.SyncGetLatestCommit(ctx, a.PDS.NewClient(), a.DID)
	if err != nil {
		t.Fatal(err)
	}
	return out.Rev
}

// waitActiveAt waits until the relay shows the account active at rev, and
// returns how long that took.
func waitActiveAt(ctx context.Context, t *testing.T, r *Relay, did, rev string) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.WaitRepo(ctx, did, func(active bool, status, got string) bool {
		return active && got == rev
	}); err != nil {
		t.Fatalf("relay never showed %s active at %s: %v", did, rev, err)
	}
	return time.Since(start)
}

func TestRelayFollowsPDS(t *testing.T) {
	n := relayNet(t)
	ctx := context.Background()
	r := startRelay(t, n, RelayOptions{Follow: []*PDS{n.A}})
	if !r.Following(n.A) || r.Following(n.B) {
		t.Fatalf("Following: A %v, B %v; want true, false", r.Following(n.A), r.Following(n.B))
	}
	if !r.Running() {
		t.Fatal("relay not running")
	}

	acct, err := n.A.CreateAccount(ctx, SeedSpec{Handle: uniqueHandle("follows"), Posts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acct.Post(ctx, "seen by the relay"); err != nil {
		t.Fatal(err)
	}
	rev := latestRev(ctx, t, acct)
	took := waitActiveAt(ctx, t, r, acct.DID, rev)
	t.Logf("relay active at A's rev %s %s after the post", rev, took.Round(time.Millisecond))

	h, err := r.HostStatus(ctx, n.A.Hostname())
	if err != nil {
		t.Fatal(err)
	}
	if h.Hostname != n.A.Hostname() || h.Status != "active" || h.AccountCount != 1 {
		t.Errorf("HostStatus(A) = %+v, want %s active with 1 account", h, n.A.Hostname())
	}
	if _, err := r.HostStatus(ctx, n.B.Hostname()); !errors.Is(err, ErrHostNotFound) {
		t.Errorf("HostStatus(B) err = %v, want ErrHostNotFound", err)
	}
	if _, _, _, err := r.RepoStatus(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrRepoNotFound) {
		t.Errorf("RepoStatus(unknown) err = %v, want ErrRepoNotFound", err)
	}
	// listHosts is served from a cache that lags a few seconds.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		hosts, err := r.ListHosts(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(hosts, func(h RelayHost) bool { return h.Hostname == n.A.Hostname() }) {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("ListHosts = %+v after 10 s, want A among them", hosts)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestRelayFollowLater(t *testing.T) {
	n := relayNet(t)
	ctx := context.Background()
	r := startRelay(t, n, RelayOptions{})
	if r.Following(n.A) {
		t.Fatal("a relay started with no Follow follows A")
	}
	if _, err := r.HostStatus(ctx, n.A.Hostname()); !errors.Is(err, ErrHostNotFound) {
		t.Fatalf("HostStatus(A) before Follow: err = %v, want ErrHostNotFound", err)
	}
	acct, err := n.A.CreateAccount(ctx, SeedSpec{Handle: uniqueHandle("later"), Posts: 2})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := r.Follow(ctx, n.A, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("Follow(A) (a restart) took %s", time.Since(start).Round(time.Millisecond))
	if !r.Following(n.A) || !r.Running() {
		t.Fatalf("after Follow: Following %v, Running %v", r.Following(n.A), r.Running())
	}
	if err := r.WaitHost(ctx, n.A.Hostname(), func(h RelayHost) bool { return h.Status == "active" }); err != nil {
		t.Fatal(err)
	}
	// What A emitted before the relay followed it is not replayed: the new
	// host row has no cursor, so the relay reads A's stream from its end.
	// Not an error when it does know the account: once (of some 20 runs,
	// the whole package under load) A's sequencer had not yet sent the
	// account's events when the relay connected.
	if _, _, _, err := r.RepoStatus(ctx, acct.DID); !errors.Is(err, ErrRepoNotFound) {
		t.Logf("RepoStatus before any new event: err = %v; the relay got the account's events (still in flight at A when it connected)", err)
	}
	if _, _, err := acct.Post(ctx, "after the relay followed A"); err != nil {
		t.Fatal(err)
	}
	rev := latestRev(ctx, t, acct)
	took := waitActiveAt(ctx, t, r, acct.DID, rev)
	t.Logf("relay active at A's rev %s after the post", took.Round(time.Millisecond))

	// A restart keeps the host and the account, and resumes A's stream.
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := acct.Post(ctx, "after the restart"); err != nil {
		t.Fatal(err)
	}
	waitActiveAt(ctx, t, r, acct.DID, latestRev(ctx, t, acct))

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if r.Running() {
		t.Error("relay still running after Stop")
	}
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestRelayAccountLimit(t *testing.T) {
	n := relayNet(t)
	ctx := context.Background()
	r := startRelay(t, n, RelayOptions{Follow: []*PDS{n.B}, AccountLimit: 2})

	var accts []*Account
	for i := range 3 {
		a, err := n.B.CreateAccount(ctx, SeedSpec{Handle: uniqueHandle(fmt.Sprintf("limit%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
		// One at a time: the relay binds accounts in the order it sees them.
		if err := r.WaitRepo(ctx, a.DID, func(bool, string, string) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range accts {
		active, status, _, err := r.RepoStatus(ctx, a.DID)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; active != want || (!want && status != "throttled") {
			t.Errorf("account %d: active %v status %q; want active %v (status throttled when not)", i, active, status, want)
		}
	}
	h, err := r.HostStatus(ctx, n.B.Hostname())
	if err != nil {
		t.Fatal(err)
	}
	if h.AccountCount != 3 {
		t.Errorf("HostStatus(B).AccountCount = %d, want 3 (throttled accounts count)", h.AccountCount)
	}

	// Raising the limit (admin endpoint, no restart) activates the third.
	if err := r.SetAccountLimit(ctx, n.B, 3); err != nil {
		t.Fatal(err)
	}
	if !r.Running() {
		t.Fatal("SetAccountLimit stopped the relay")
	}
	if err := r.WaitRepo(ctx, accts[2].DID, func(active bool, _, _ string) bool { return active }); err != nil {
		t.Fatal(err)
	}
	// And its next commit is taken.
	if _, _, err := accts[2].Post(ctx, "no longer throttled"); err != nil {
		t.Fatal(err)
	}
	waitActiveAt(ctx, t, r, accts[2].DID, latestRev(ctx, t, accts[2]))
}
