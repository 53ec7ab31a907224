package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/batch"
	"github.com/atmigrate/atmigrate/migrate/network"
)

// The tests here run indigo's relay (cmd/relay at the version go.mod
// pins) beside the two PDSes, and ask it, as the network would, what it
// shows of a moved account.

// Each test starts a relay of its own on a shared network: a new relay
// knows only the events after its start.

func startRelay(t *testing.T, net *localnet.Network, o localnet.RelayOptions) *localnet.Relay {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := net.StartRelay(ctx, o)
	if err != nil {
		t.Fatalf("start the relay: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay log:\n%s", r.LogTail())
		}
		r.Close()
	})
	return r
}

// relayEnv points a run at the relay r (and at no AppView).
func relayEnv(env map[string]string, r *localnet.Relay, extra ...string) map[string]string {
	return withEnv(env, append([]string{"ATMIGRATE_RELAY", r.URL}, extra...)...)
}

// latestRev is the rev of the latest commit of did on the PDS at url.
func latestRev(t *testing.T, url, did string) string {
	t.Helper()
	_, rev, err := pds.New(url, pds.Options{}).GetLatestCommit(ctxT(t), did)
	if err != nil {
		t.Fatalf("latest commit of %s on %s: %v", did, url, err)
	}
	return rev
}

// waitRelayAt waits (up to wait) for the relay to show did active at rev.
func waitRelayAt(t *testing.T, r *localnet.Relay, did, rev string, wait time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return r.WaitRepo(ctx, did, func(active bool, _, got string) bool { return active && got == rev })
}

// moveClock watches a migration from outside: when the new PDS first says
// the account is active, and when the relay first shows it active at the
// new PDS's latest rev.
type moveClock struct {
	mu                sync.Mutex
	activated, synced time.Time
	stop              context.CancelFunc
	done              chan struct{}
}

func watchMove(r *localnet.Relay, newURL, did string) *moveClock {
	ctx, cancel := context.WithCancel(context.Background())
	m := &moveClock{stop: cancel, done: make(chan struct{})}
	b := pds.New(newURL, pds.Options{})
	go func() {
		defer close(m.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			now := time.Now()
			if m.activated.IsZero() {
				if st, err := b.GetRepoStatus(ctx, did); err == nil && st.Active {
					m.mu.Lock()
					m.activated = now
					m.mu.Unlock()
				}
			} else if _, rev, err := b.GetLatestCommit(ctx, did); err == nil {
				if active, _, got, err := r.RepoStatus(ctx, did); err == nil && active && got == rev {
					m.mu.Lock()
					m.synced = now
					m.mu.Unlock()
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	return m
}

// result stops the watch and says how long after the activation the relay
// showed the new PDS's rev (ok false: not while watched).
func (m *moveClock) result() (activated bool, lag time.Duration, ok bool) {
	m.stop()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.activated.IsZero() {
		return false, 0, false
	}
	if m.synced.IsZero() {
		return true, 0, false
	}
	return true, m.synced.Sub(m.activated), true
}

// TestRelaySeesMove (a) moves an account the relay knows from the old PDS
// with --relay: the run ends with the relay showing it active at B's
// latest rev, and the records unchanged. It measures, from outside, the
// time from the activation to the relay showing B's rev, first for a run
// stopped right after the activation (no commit signed by B yet: the relay
// refuses B's #sync and keeps A's rev), then for the run that finishes.
func TestRelaySeesMove(t *testing.T) {
	for _, v := range []string{localnet.Version04, localnet.Version05} {
		t.Run("to-"+v, func(t *testing.T) {
			net := sharedNet(t)
			if v == localnet.Version05 {
				net = versionNet(t, pair45)
			}
			relay := startRelay(t, net, localnet.RelayOptions{Follow: []*localnet.PDS{net.A, net.B}})
			keyPath, userDK := userKey(t)
			acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("relay"), Posts: 40, Blobs: 3,
				BlobMinBytes: 2_000, BlobMaxBytes: 8_000, Profile: true, RecoveryKey: userDK})
			// The relay saw the account on A: one more post after its start.
			postOn(t, net.A.URL, acct)
			if err := waitRelayAt(t, relay, acct.DID, latestRev(t, net.A.URL, acct.DID), 20*time.Second); err != nil {
				t.Fatalf("the relay never showed the account on A: %v", err)
			}
			before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
			env := relayEnv(migrateEnv(net, acct), relay)
			args := []string{"migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath}

			// Without a commit of B's own: stopped before sign-commit.
			clock := watchMove(relay, net.B.URL, acct.DID)
			r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", "start:sign-commit"), args...)
			if !r.killed() {
				t.Fatalf("want the run killed before sign-commit\n%s", r)
			}
			const unsignedWatch = 10 * time.Second
			time.Sleep(unsignedWatch)
			activated, lagUnsigned, syncedUnsigned := clock.result()
			if !activated {
				t.Fatal("B never said the account is active")
			}
			_, _, relayRev, err := relay.RepoStatus(ctxT(t), acct.DID)
			if err != nil {
				t.Fatal(err)
			}
			bRev := latestRev(t, net.B.URL, acct.DID)

			// The same command finishes: B signs a commit, the relay takes it.
			clock = watchMove(relay, net.B.URL, acct.DID)
			start := time.Now()
			r2 := atmigrate(t, env, args...)
			if r2.code != 0 {
				t.Fatalf("the finishing run: want exit 0\n%s", r2)
			}
			_, _, synced := clock.result()
			lagSigned := time.Duration(0)
			if !synced {
				t.Errorf("the relay did not show B's latest rev by the end of the run\n%s", r2)
			} else {
				lagSigned = clock.synced.Sub(start)
			}
			mustContain(t, r2, "sign-commit", relay.URL, "in sync")
			assertOneMigration(t, net, acct, before)
			active, status, rev, err := relay.RepoStatus(ctxT(t), acct.DID)
			if err != nil || !active || rev != latestRev(t, net.B.URL, acct.DID) {
				t.Errorf("relay after the move: active %v status %q rev %q (B at %s), %v", active, status, rev, latestRev(t, net.B.URL, acct.DID), err)
			}
			h, err := relay.HostStatus(ctxT(t), net.B.Hostname())
			if err != nil || h.AccountCount < 1 {
				t.Errorf("relay's host %s: %+v %v", net.B.Hostname(), h, err)
			}
			unsigned := fmt.Sprintf("not within %s (the relay kept rev %s, B at %s)", unsignedWatch, relayRev, bRev)
			if syncedUnsigned {
				unsigned = lagUnsigned.Round(10 * time.Millisecond).String()
				if v == localnet.Version04 {
					t.Errorf("the relay took B's rev without a commit signed by B (%s): the sign-commit stage may no longer be needed", unsigned)
				}
			}
			report(t, fmt.Sprintf("relay (0.4 → %s): activation to the relay showing B's rev: without a commit signed by B %s; with it, %s from the start of the run that signs",
				v, unsigned, lagSigned.Round(10*time.Millisecond)))
		})
	}
}

// TestRelayNotFollowing (b): a relay that follows only A. The run reports
// it, with the relay's answer to requestCrawl (it refuses loopback hosts),
// and exits 0. Once the relay follows B, the same command run again brings
// it in sync, without a PLC operation and without touching the records.
func TestRelayNotFollowing(t *testing.T) {
	net := sharedNet(t)
	relay := startRelay(t, net, localnet.RelayOptions{Follow: []*localnet.PDS{net.A}})
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("nofollow"), Posts: 20, RecoveryKey: userDK})
	postOn(t, net.A.URL, acct)
	if err := waitRelayAt(t, relay, acct.DID, latestRev(t, net.A.URL, acct.DID), 20*time.Second); err != nil {
		t.Fatalf("the relay never showed the account on A: %v", err)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	env := relayEnv(migrateEnv(net, acct), relay)
	args := []string{"migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath, "--relay-wait", "5s"}

	r := atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("a relay that does not follow B must not fail the move: want exit 0\n%s", r)
	}
	t.Logf("first run:\n%s", r.stderr)
	mustContain(t, r, relay.URL, "not following", "crawl")
	log := assertOneMigration(t, net, acct, before)

	if err := relay.Follow(ctxT(t), net.B, localnet.DefaultRelayAccountLimit); err != nil {
		t.Fatal(err)
	}
	r = atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("the run after the relay follows B: want exit 0\n%s", r)
	}
	t.Logf("second run:\n%s", r.stderr)
	mustContain(t, r, "in sync")
	active, status, rev, err := relay.RepoStatus(ctxT(t), acct.DID)
	if bRev := latestRev(t, net.B.URL, acct.DID); err != nil || !active || rev != bRev {
		t.Errorf("relay after the repair: active %v status %q rev %q, want active at %s (%v)", active, status, rev, bRev, err)
	}
	if log2 := assertOneMigration(t, net, acct, before); len(log2) != len(log) {
		t.Errorf("the repair changed the audit log: %d operations, was %d", len(log2), len(log))
	}
}

// TestRelayThrottledBatch (c): five accounts the relay has never seen,
// moved by a batch to a host whose limit in the relay is 3. The batch warns
// before it starts, reports each account's relay view and names the
// throttled ones, and exits 0: the accounts are moved.
func TestRelayThrottledBatch(t *testing.T) {
	net := sharedNet(t)
	const limit = 3
	relay := startRelay(t, net, localnet.RelayOptions{Follow: []*localnet.PDS{net.B}, AccountLimit: limit})
	accts := seedMany(t, net.A, "thr", 5, 5, 15, 1)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	var sb strings.Builder
	sb.WriteString("account,old_password\n")
	for _, a := range accts {
		fmt.Fprintf(&sb, "%s,%s\n", a.DID, a.Password)
	}
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"), sb.String())
	args := []string{"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
		"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--parallel-accounts", "1", "--plc-rotation-key", keyFile,
		"--relay-host-limit", fmt.Sprint(limit), "--relay-wait", "10s", "--yes"}
	r := atmigrate(t, map[string]string{"ATMIGRATE_RELAY": relay.URL}, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0 (throttling is a warning)\n%s", r)
	}
	t.Logf("batch output:\n%s%s", r.stderr, r.stdout)
	// The warning comes before the first account moves.
	warn := strings.Index(r.stderr, "account limit")
	first := strings.Index(r.stderr, accts[0].DID)
	if warn < 0 || (first >= 0 && first < warn) {
		t.Errorf("want the relay's account-limit warning before the first account\n%s", r)
	}
	rep := readReport(t, state)
	var throttled, inSync []string
	for _, a := range accts {
		e := reportEntry(t, rep, a.DID)
		if e.Status != batch.Migrated || len(e.Relays) != 1 {
			t.Fatalf("%s: %+v", a.DID, e)
		}
		switch e.Relays[0].State {
		case network.RelayThrottled:
			throttled = append(throttled, a.DID)
			if len(e.Throttled) != 1 || e.Throttled[0] != relay.URL {
				t.Errorf("%s throttled but not named: %+v", a.DID, e.Throttled)
			}
		case network.RelayInSync:
			inSync = append(inSync, a.DID)
		default:
			t.Errorf("%s: relay view %+v", a.DID, e.Relays[0])
		}
	}
	if len(inSync) != limit || len(throttled) != len(accts)-limit {
		t.Errorf("in sync %d, throttled %d: want %d and %d", len(inSync), len(throttled), limit, len(accts)-limit)
	}
	if rep.Summary.Throttled != len(throttled) {
		t.Errorf("summary counts %d throttled, want %d", rep.Summary.Throttled, len(throttled))
	}
	for _, did := range throttled {
		if !strings.Contains(r.stdout+r.stderr, did) {
			t.Errorf("the output does not name the throttled account %s", did)
		}
		active, status, _, err := relay.RepoStatus(ctxT(t), did)
		if err != nil || active || status != "throttled" {
			t.Errorf("relay's view of %s: active %v status %q %v", did, active, status, err)
		}
	}
	if len(rep.RelayHosts) != 1 || rep.RelayHosts[0].OK() {
		t.Errorf("report's relay hosts: %+v", rep.RelayHosts)
	}
}

// postOn writes one post as acct on the PDS at url.
func postOn(t *testing.T, url string, acct *localnet.Account) {
	t.Helper()
	c := login(t, url, acct.DID, acct.Password)
	_, err := c.ApplyWrites(ctxT(t), []pds.Write{{Type: pds.WriteCreate, Collection: "app.bsky.feed.post",
		Value: map[string]any{"$type": "app.bsky.feed.post", "text": "seen by the relay", "createdAt": time.Now().UTC().Format(time.RFC3339)}}}, "")
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("post on %s: %v", url, err)
	}
}
