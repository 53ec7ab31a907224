package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// stallBound is the longest a run with a 2 s stall limit may take to give
// up on a stalled server: 3 stalled attempts of 2-4 s (a body that stops
// after some bytes takes up to two windows), the backoff between them, and
// the run's own start, which took up to 15 s on the loaded test machine.
const stallBound = 40 * time.Second

// TestStalls puts a proxy that stalls in the four ways of stallKinds in
// front of the old PDS, the new PDS or the PLC directory, and runs export,
// migrate, verify and watch --once through it with --stall-timeout 2s
// (ATMIGRATE_STALL_TIMEOUT; 1 s made healthy calls stall on a loaded 2-core
// machine). Each run must end within stallBound with the exit code of a
// failure that can pass, naming the server and the call, and saying to run
// the same command again; nothing irreversible may have happened (the
// DID's audit log is unchanged before the switch); and the same command
// without the fault must finish.
//
// One account for each server and kind, all at once (most of the time is
// waiting out stalls), meets that kind with each command. What does not
// apply: export reads only the account's PDS and the PLC directory (no new
// PDS).
func TestStalls(t *testing.T) {
	net := sharedNet(t)
	var mu sync.Mutex
	took := map[string][]time.Duration{}
	for _, server := range []string{"old PDS", "new PDS", "PLC"} {
		for _, kind := range stallKinds {
			t.Run(strings.ReplaceAll(server, " ", "_")+"/"+kind, func(t *testing.T) {
				t.Parallel()
				s := newStallRig(t, net, server)
				s.run(t, kind)
				mu.Lock()
				for k, v := range s.took {
					took[k] = append(took[k], v...)
				}
				mu.Unlock()
			})
		}
	}
	t.Cleanup(func() {
		var parts []string
		for k, v := range took {
			sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
			parts = append(parts, fmt.Sprintf("%s %s-%s (%d runs)", k, v[0].Round(100*time.Millisecond), v[len(v)-1].Round(100*time.Millisecond), len(v)))
		}
		sort.Strings(parts)
		report(t, "stall test, 2 s limit, time to exit: "+strings.Join(parts, "; "))
	})
}

// stallRig is one account, three proxies and the server whose proxy
// stalls.
type stallRig struct {
	net      *localnet.Network
	acct     *localnet.Account
	keyPath  string
	server   string
	px       map[string]*faultProxy
	env      map[string]string
	stateDir string

	mu    sync.Mutex
	kind  string
	match func(*http.Request) bool
	took  map[string][]time.Duration
}

func newStallRig(t *testing.T, net *localnet.Network, server string) *stallRig {
	keyPath, userDK := userKey(t)
	s := &stallRig{
		net: net, server: server, keyPath: keyPath, stateDir: t.TempDir(), took: map[string][]time.Duration{},
		acct: seed(t, net.A, localnet.SeedSpec{Handle: uniq("stall"), Posts: 20, Blobs: 3, BlobMinBytes: 4000, BlobMaxBytes: 8000, RecoveryKey: userDK}),
		px: map[string]*faultProxy{
			"old PDS": newFaultProxy(t, net.A.URL),
			"new PDS": newFaultProxy(t, net.B.URL),
			"PLC":     newFaultProxy(t, net.PLCURL),
		},
	}
	p := s.px[server]
	p.rule(func(r *http.Request) fault {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.kind == "" || !s.match(r) {
			return fault{}
		}
		return fault{stall: s.kind}
	})
	s.env = migrateEnv(net, s.acct)
	s.env["ATMIGRATE_NEW_PDS"] = s.px["new PDS"].URL
	s.env["ATMIGRATE_PLC_URL"] = s.px["PLC"].URL
	return s
}

// run meets kind with export, migrate, verify and watch, in that order,
// each run again without the stall.
func (s *stallRig) run(t *testing.T, kind string) {
	oldURL, newURL := s.px["old PDS"].URL, s.px["new PDS"].URL
	all := func(*http.Request) bool { return true }
	plcReads := func(r *http.Request) bool { return r.Method == http.MethodGet }

	// export: blobs from the account's PDS, the audit log from the PLC.
	export := []string{"export", "--out", t.TempDir(), "--old-pds", oldURL}
	switch s.server {
	case "old PDS":
		s.stalled(t, "export", kind, nsidGetBlob, s.nsid(nsidGetBlob), 1, export...)
	case "PLC":
		s.stalled(t, "export", kind, "/log/audit", plcReads, 1, export...)
	}
	s.clean(t, 0, export...)

	// migrate, resumed by the same command without the stall.
	migrate := []string{"migrate", "--old-pds", oldURL, "--state-dir", s.stateDir, "--yes", "--rotation-key", s.keyPath}
	call, match := map[string]string{"old PDS": nsidGetBlob, "new PDS": nsidListMissingBlobs, "PLC": "/log/audit"}[s.server], plcReads
	if s.server != "PLC" {
		match = s.nsid(call)
	}
	logBefore := s.auditLog(t)
	s.stalled(t, "migrate", kind, call, match, 1, migrate...)
	if n := len(s.auditLog(t)); n != len(logBefore) {
		t.Fatalf("migrate stalled on the %s (%s) and the audit log grew from %d to %d", s.server, kind, len(logBefore), n)
	}
	s.clean(t, 0, migrate...)

	// verify talks to all three; every call to the stalled server
	// stalls. Without the stall it is given the new PDS's own URL,
	// the one the DID document names (verify checks it; the
	// proxy's differs).
	verify := []string{"verify", "--account", s.acct.DID, "--old-pds", oldURL, "--new-pds", newURL}
	s.stalled(t, "verify", kind, s.callOf(), all, 1, verify...)
	verify[len(verify)-1] = s.net.B.URL
	s.clean(t, 0, verify...)

	// watch --once: the audit log, and getRepoStatus on both PDSes.
	// A directory that cannot be read is watch's exit 4 ("could not
	// check"), its documented contract; a PDS that does not answer
	// is a "did not answer (... stalled ...)" line and no change
	// (exit 0), as for any other PDS that is down: the DID is what
	// watch guards.
	watch := []string{"watch", "--once", "--state-dir", s.stateDir}
	code := 0
	if s.server == "PLC" {
		code = 4
	}
	s.stalled(t, "watch", kind, s.callOf(), all, code, watch...)
	s.clean(t, 0, watch...)
}

const nsidListMissingBlobs = "com.atproto.repo.listMissingBlobs"

func (s *stallRig) nsid(nsid string) func(*http.Request) bool {
	return func(r *http.Request) bool { return nsidOf(r) == nsid }
}

// callOf is what a message names when any call may stall: the XRPC
// prefix of a PDS, the DID's path at the directory.
func (s *stallRig) callOf() string {
	if s.server == "PLC" {
		return "/" + s.acct.DID
	}
	return "stalled on com.atproto."
}

// stalled runs args with the stall limit at 1 s while the server's proxy
// stalls in kind on the requests match picks.
func (s *stallRig) stalled(t *testing.T, cmd, kind, call string, match func(*http.Request) bool, code int, args ...string) {
	t.Helper()
	s.mu.Lock()
	s.kind, s.match = kind, match
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.kind = ""
		s.mu.Unlock()
	}()
	before := s.px[s.server].counts()["stall-"+kind]
	start := time.Now()
	r := atmigrate(t, withEnv(s.env, "ATMIGRATE_STALL_TIMEOUT", "2s"), args...)
	d := time.Since(start)
	s.took[kind] = append(s.took[kind], d)
	what := fmt.Sprintf("%s with the %s stalling (%s)", cmd, s.server, kind)
	if s.px[s.server].counts()["stall-"+kind] == before {
		t.Fatalf("%s: the proxy never stalled: the test tests nothing\n%s", what, r)
	}
	if r.code != code {
		t.Fatalf("%s: want exit %d\n%s", what, code, r)
	}
	mustContain(t, r, s.px[s.server].URL, call, "stalled")
	if r.code != 0 && cmd != "verify" {
		// "run the same command again" (export: "run the same export
		// again"). verify prints its report instead: each check the
		// stall stopped is a FAIL line with the stall's message.
		mustContain(t, r, "run the same")
	}
	if d > stallBound {
		t.Errorf("%s: took %s, want under %s", what, d.Round(100*time.Millisecond), stallBound)
	}
	t.Logf("%s: exit %d after %s", what, r.code, d.Round(100*time.Millisecond))
}

// clean runs args with nothing stalling and the default limit.
func (s *stallRig) clean(t *testing.T, code int, args ...string) {
	t.Helper()
	if r := atmigrate(t, s.env, args...); r.code != code {
		t.Fatalf("%s without the stall: want exit %d\n%s", args[0], code, r)
	}
}

func (s *stallRig) auditLog(t *testing.T) []any {
	t.Helper()
	log, err := plc.NewClient(s.net.PLCURL, nil).AuditLog(ctxT(t), s.acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(log))
	for i := range log {
		out[i] = log[i]
	}
	return out
}
