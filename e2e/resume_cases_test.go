package e2e

// End-to-end cases for resuming, re-running and refusing, as the rewritten
// core is to behave. Exit codes: 0 ok, 1 transient/resumable, 2 bad input
// (nothing irreversible done), 3 paused for the PLC token.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	comatproto "github.com/bluesky-social/indigo/api/atproto"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/batch"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
)

// rcSmall is the seed of a small account: enough to move records, blobs
// and preferences, quick to copy.
func rcSmall(prefix, recoveryKey string) localnet.SeedSpec {
	return localnet.SeedSpec{Handle: uniq(prefix), Posts: 20, Blobs: 3, BlobMinBytes: 1_000, BlobMaxBytes: 4_000,
		Preferences: true, RecoveryKey: recoveryKey}
}

// rcAuditLen is the number of entries in the DID's PLC audit log.
func rcAuditLen(t *testing.T, net *localnet.Network, did string) int {
	t.Helper()
	log, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), did)
	if err != nil {
		t.Fatalf("audit log of %s: %v", did, err)
	}
	return len(log)
}

// rcEndpoint is the atproto_pds endpoint the PLC directory has for did.
func rcEndpoint(t *testing.T, net *localnet.Network, did string) string {
	t.Helper()
	st, err := plc.NewClient(net.PLCURL, nil).State(ctxT(t), did)
	if err != nil {
		t.Fatalf("PLC state of %s: %v", did, err)
	}
	return st.Endpoint()
}

// rcActive reports whether the PDS at url says did's repo is active
// (getRepoStatus, no session); it fails the test if the PDS does not know it.
func rcActive(t *testing.T, url, did string) bool {
	t.Helper()
	rs, err := pds.New(url, pds.Options{}).GetRepoStatus(ctxT(t), did)
	if err != nil {
		t.Fatalf("getRepoStatus %s on %s: %v", did, url, err)
	}
	return rs.Active
}

// rcTotalCalls is every request the proxy's front door saw, all methods.
func rcTotalCalls(p *frontProxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		n += c
	}
	return n
}

// rcClosedPortURL is http://127.0.0.1:<a port nothing listens on>.
func rcClosedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// rcRunTo runs args until the binary SIGKILLs itself at point. With
// tokenOf set (email-token mode) it does the PLC token dance on the way:
// a pause (exit 3) means a token was emailed; a refused token (spent by a
// run killed after signing) means ask anew. *token carries the token
// between calls.
func rcRunTo(t *testing.T, env map[string]string, args []string, point string, tokenOf func() (string, error), token *string) procResult {
	t.Helper()
	for attempt := 0; attempt < 4; attempt++ {
		r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", point, "ATMIGRATE_PLC_TOKEN", *token), args...)
		switch {
		case r.killed():
			return r
		case r.code == 3 && tokenOf != nil:
			tok, err := tokenOf()
			if err != nil {
				t.Fatalf("paused but no token mail: %v\n%s", err, r)
			}
			*token = tok
		case r.code == 2 && tokenOf != nil && strings.Contains(r.stderr, "refused the PLC token"):
			*token = ""
		default:
			t.Fatalf("kill point %s was not reached: want SIGKILL, got\n%s", point, r)
		}
	}
	t.Fatalf("kill point %s: no kill after 4 runs", point)
	return procResult{}
}

// rcElapsed logs how long the test took (for the report).
func rcElapsed(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("%s took %s", t.Name(), time.Since(start).Round(100*time.Millisecond)) })
}

// 1. A successful migration started by handle, run again: the old PDS no
// longer resolves the deactivated account's handle, but the state dir
// knows the DID. Nothing changes, exit 0, "already migrated".
func TestRerunByHandleAfterSuccess(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	acct := seed(t, net.A, rcSmall("rerun", ""))
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	env := map[string]string{
		"ATMIGRATE_OLD_PASSWORD": acct.Password,
		"ATMIGRATE_NEW_PDS":      net.B.URL,
		"ATMIGRATE_PLC_URL":      net.PLCURL,
	}
	args := []string{"migrate", "--account", acct.Handle, "--old-pds", net.A.URL, "--state-dir", t.TempDir(), "--yes"}
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run: want the pause for the token (exit 3)\n%s", r)
	}
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	env["ATMIGRATE_PLC_TOKEN"] = token
	if r = runBin(t, env, args...); r.code != 0 {
		t.Fatalf("run with the token: want exit 0\n%s", r)
	}
	assertOneMigration(t, net, acct, before)
	logLen := rcAuditLen(t, net, acct.DID)

	r = runBin(t, env, args...)
	if r.code != 0 {
		t.Fatalf("the same command after success: want exit 0\n%s", r)
	}
	mustContain(t, r.run, "already migrated")
	if n := rcAuditLen(t, net, acct.DID); n != logLen {
		t.Errorf("the run after success changed the audit log: %d entries, was %d", n, logLen)
	}
	if !rcActive(t, net.B.URL, acct.DID) {
		t.Errorf("B's account is not active after the re-run")
	}
	if rcActive(t, net.A.URL, acct.DID) {
		t.Errorf("A's account is active after the re-run")
	}
}

// 2. A batch signing with the old PDS's rotation key is killed right after
// an account's PLC operation was accepted: that key is no longer among the
// DID's rotation keys, and the re-run must finish the account anyway (the
// DID already points at the new PDS) instead of failing it for good.
func TestBatchRotationKeyKilledAfterPLC(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	accts := []*localnet.Account{seed(t, net.A, rcSmall("bkp0-", "")), seed(t, net.A, rcSmall("bkp1-", ""))}
	befores := make([]snapshot, len(accts))
	log0 := make([]int, len(accts))
	for i, a := range accts {
		befores[i] = takeSnapshot(t, net.A.URL, a.DID, a.Password)
		log0[i] = rcAuditLen(t, net, a.DID)
	}
	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"),
		fmt.Sprintf("account,old_password\n%s,env:BATCH_PW\n%s,env:BATCH_PW\n", accts[0].DID, accts[1].DID))
	state := filepath.Join(dir, "state")
	env := map[string]string{"BATCH_PW": localnet.DefaultPassword}
	args := []string{"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
		"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--plc-rotation-key", keyFile, "--yes"}

	r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", "plc-submitted"), args...)
	if !r.killed() {
		t.Fatalf("batch with the crash point: want death by SIGKILL\n%s", r)
	}
	switched := 0
	for i, a := range accts {
		if rcAuditLen(t, net, a.DID) > log0[i] {
			switched++
		}
	}
	if switched == 0 {
		t.Fatalf("killed at plc-submitted, but no account's audit log grew")
	}

	r = runBin(t, env, args...)
	if r.code != 0 {
		t.Fatalf("re-run after the kill: want exit 0\n%s", r)
	}
	rep := readReport(t, state)
	for i, a := range accts {
		if e := reportEntry(t, rep, a.DID); e.Status != batch.Migrated {
			t.Errorf("%s: %s (%s), want migrated", a.DID, e.Status, e.Error)
		}
		assertOneMigration(t, net, a, befores[i])
		if n := rcAuditLen(t, net, a.DID); n != log0[i]+1 {
			t.Errorf("%s: %d audit log entries, want %d", a.DID, n, log0[i]+1)
		}
	}
}

// 3. --new-pds names the server the account already lives on, through
// another URL (a proxy), so only asking the server itself can tell: refused
// before anything is written, on every run.
func TestNewPDSIsTheCurrentServer(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	acct := seed(t, net.A, rcSmall("same", ""))
	log0 := rcAuditLen(t, net, acct.DID)
	pa := newFrontProxy(t, net.A.URL)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pa.URL
	args := []string{"migrate", "--state-dir", t.TempDir(), "--yes"}
	for i := 1; i <= 2; i++ {
		r := runBin(t, env, args...)
		if r.code != 2 {
			t.Errorf("run %d: want exit 2\n%s", i, r)
		}
		if i == 1 && !strings.Contains(r.stderr, "already lives on") {
			t.Errorf("run %d: stderr lacks %q\n%s", i, "already lives on", r)
		}
		if !rcActive(t, net.A.URL, acct.DID) {
			t.Errorf("run %d: A's account is no longer active", i)
		}
		if n := rcAuditLen(t, net, acct.DID); n != log0 {
			t.Errorf("run %d: the audit log has %d entries, was %d", i, n, log0)
		}
		for _, nsid := range []string{"com.atproto.server.createAccount", nsidImportRepo, "com.atproto.server.deactivateAccount"} {
			if n := pa.callCount(nsid); n != 0 {
				t.Errorf("run %d: %d %s call(s) reached A through --new-pds", i, n, nsid)
			}
		}
	}
}

// 4. An app password logs in, but cannot move an account: refused at once
// with a hint to use the account password, nothing written.
func TestAppPasswordRefused(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	acct := seed(t, net.A, rcSmall("apppw", ""))
	ctx := ctxT(t)
	c, err := acct.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := comatproto.ServerCreateAppPassword(ctx, c, &comatproto.ServerCreateAppPassword_Input{Name: "atmigrate-test"})
	if err != nil {
		t.Fatalf("create an app password: %v", err)
	}
	log0 := rcAuditLen(t, net, acct.DID)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_OLD_PASSWORD"] = ap.Password
	r := runBin(t, env, "migrate", "--state-dir", t.TempDir(), "--yes")
	if r.code != 2 {
		t.Errorf("with an app password: want exit 2\n%s", r)
	}
	for _, s := range []string{"app password", "account password"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q\n%s", s, r)
		}
	}
	if strings.Contains(r.stderr+r.stdout, ap.Password) {
		t.Errorf("the app password leaked into the output")
	}
	assertNoAccount(t, net.B, acct.DID)
	if n := rcAuditLen(t, net, acct.DID); n != log0 {
		t.Errorf("the audit log has %d entries, was %d", n, log0)
	}
}

// 5. Killed after the PLC switch and before the activation, then the old
// PDS goes away: the re-run still activates the new account (the DID
// points at it), then stops (exit 1) saying the old PDS did not answer and
// how to finish without it; --no-deactivate-old finishes.
func TestOldPDSDownAfterSwitch(t *testing.T) {
	rcElapsed(t)
	net := newNet(t, localnet.Options{})
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, rcSmall("down", userDK))
	env := migrateEnv(net, acct)
	args := []string{"migrate", "--state-dir", t.TempDir(), "--yes", "--rotation-key", keyPath}

	r := runBin(t, withEnv(env, "ATMIGRATE_TEST_CRASH_AT", "start:activate"), args...)
	if !r.killed() {
		t.Fatalf("crash at start:activate: want death by SIGKILL\n%s", r)
	}
	if ep := rcEndpoint(t, net, acct.DID); ep != net.B.URL {
		t.Fatalf("after the kill the DID points at %s, want B %s", ep, net.B.URL)
	}
	if rcActive(t, net.B.URL, acct.DID) {
		t.Fatalf("B is active before the activation stage")
	}
	if err := net.A.Stop(); err != nil {
		t.Fatal(err)
	}

	r = runBin(t, env, args...)
	if r.code != 1 {
		t.Errorf("re-run with A down: want exit 1\n%s", r)
	}
	for _, s := range []string{"did not answer", "--no-deactivate-old"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("re-run with A down: stderr lacks %q\n%s", s, r)
		}
	}
	if ep := rcEndpoint(t, net, acct.DID); ep != net.B.URL {
		t.Errorf("the DID points at %s, want B %s", ep, net.B.URL)
	}
	if !rcActive(t, net.B.URL, acct.DID) {
		t.Errorf("B's account is not active after the re-run with A down")
	}

	r = runBin(t, env, append(args, "--no-deactivate-old")...)
	if r.code != 0 {
		t.Fatalf("with --no-deactivate-old: want exit 0\n%s", r)
	}
	if !rcActive(t, net.B.URL, acct.DID) {
		t.Errorf("B's account is not active at the end")
	}
}

// 6. Two runs on the same state dir at once: the second stops at once
// (exit 1) naming the first one's PID, and the first finishes alone.
func TestTwoRunsAtOnce(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, rcSmall("twice", userDK))
	pb := newFrontProxy(t, net.B.URL)
	pb.setDelay(func(nsid string, _ int) time.Duration {
		if nsid == nsidImportRepo {
			return 3 * time.Second
		}
		return 0
	})
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	args := []string{"migrate", "--state-dir", t.TempDir(), "--yes", "--rotation-key", keyPath}

	p1 := startBin(t, env, args...)
	deadline := time.Now().Add(time.Minute)
	for pb.callCount("com.atproto.server.createAccount") == 0 && !strings.Contains(p1.stderrText(), "import-repo") {
		if time.Now().After(deadline) {
			t.Fatalf("run 1 never reached the account creation:\n%s", p1.wait(time.Minute))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r2 := startBin(t, env, args...).wait(2 * time.Minute)
	if r2.wall > 10*time.Second {
		t.Errorf("run 2 took %s, want under 10 s", r2.wall.Round(time.Millisecond))
	}
	if r2.code != 1 {
		t.Errorf("run 2: want exit 1\n%s", r2)
	}
	pid := strconv.Itoa(p1.cmd.Process.Pid)
	for _, s := range []string{"another atmigrate", pid} {
		if !strings.Contains(r2.stderr, s) {
			t.Errorf("run 2: stderr lacks %q\n%s", s, r2)
		}
	}
	r1 := p1.wait(3 * time.Minute)
	if r1.code != 0 {
		t.Errorf("run 1: want exit 0\n%s", r1)
	}
	if n := pb.callCount("com.atproto.server.createAccount"); n != 1 {
		t.Errorf("%d createAccount calls reached B, want 1", n)
	}
	if n := pb.callCount(nsidImportRepo); n != 1 {
		t.Errorf("%d importRepo calls reached B, want 1", n)
	}
}

// 7. A mistyped --new-pds (nothing listens; https to a plain-http server)
// is refused and does not tie the default state dir to it: the corrected
// command then runs.
func TestMistypedNewPDSDoesNotPin(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, rcSmall("typo", userDK))
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	env := migrateEnv(net, acct)
	env["XDG_STATE_HOME"] = t.TempDir()
	args := []string{"migrate", "--yes", "--rotation-key", keyPath}

	for _, bad := range []string{rcClosedPortURL(t), "https://" + strings.TrimPrefix(net.B.URL, "http://")} {
		r := runBin(t, withEnv(env, "ATMIGRATE_NEW_PDS", bad), args...)
		if r.code != 2 {
			t.Errorf("--new-pds %s: want exit 2\n%s", bad, r)
		}
	}
	assertNoAccount(t, net.B, acct.DID)
	r := runBin(t, env, args...)
	if r.code != 0 {
		t.Fatalf("the corrected command: want exit 0\n%s", r)
	}
	assertOneMigration(t, net, acct, before)
}

// 8. Writes made on the old PDS during the pause for the token are caught
// up by the run with the token, and the state says so (not the first
// run's "no writes since the export").
func TestCatchUpAfterPause(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	acct := seed(t, net.A, rcSmall("cup", ""))
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	r := runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("first run: want exit 3\n%s", r)
	}
	ctx := ctxT(t)
	posts := map[string]string{}
	for i := 0; i < 3; i++ {
		uri, cid, err := acct.Post(ctx, fmt.Sprintf("written during the pause %d", i))
		if err != nil {
			t.Fatal(err)
		}
		posts[recordPath(t, uri)] = cid
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	rt := runWithToken(t, net, acct, env, args...)
	assertOneMigration(t, net, acct, before)
	after := takeSnapshot(t, net.B.URL, acct.DID, acct.Password)
	for p, cid := range posts {
		if after.records[p] != cid {
			t.Errorf("post written during the pause %s: %q on B, want %q", p, after.records[p], cid)
		}
	}
	ss := loadState(t, state).Stages[stage.CatchUp]
	if ss == nil {
		t.Fatalf("the state has no catch-up stage")
	}
	if !strings.Contains(ss.Note, "caught up") || strings.Contains(ss.Note, "no writes since the export") {
		t.Errorf("catch-up note %q: want \"caught up\", not \"no writes since the export\"; the run with the token:\n%s", ss.Note, rt)
	}
	if out := statusOK(t, state); strings.Contains(out, "no writes since the export") {
		t.Errorf("status still says \"no writes since the export\":\n%s", out)
	}
}

// 9. A state dir that cannot be created is refused before any request to
// either PDS, as bad input (re-running cannot help).
func TestUnwritableStateDir(t *testing.T) {
	rcElapsed(t)
	net := sharedNet(t)
	acct := seed(t, net.A, rcSmall("unwr", ""))
	file := writeFile(t, filepath.Join(t.TempDir(), "not-a-dir"), "x\n")
	pa, pb := newFrontProxy(t, net.A.URL), newFrontProxy(t, net.B.URL)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	r := runBin(t, env, "migrate", "--old-pds", pa.URL, "--state-dir", file+"/state", "--yes")
	if r.code != 2 {
		t.Errorf("want exit 2\n%s", r)
	}
	if !strings.Contains(r.stderr, "state dir") {
		t.Errorf("stderr lacks %q\n%s", "state dir", r)
	}
	// Today's resume hint reads "run the same command again".
	for _, s := range []string{"run again", "run the same command again"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("stderr suggests running again (%q)\n%s", s, r)
		}
	}
	if n := rcTotalCalls(pa); n != 0 {
		t.Errorf("%d request(s) reached the old PDS", n)
	}
	if n := rcTotalCalls(pb); n != 0 {
		t.Errorf("%d request(s) reached the new PDS", n)
	}
	if st, err := os.Stat(file); err != nil || st.IsDir() {
		t.Errorf("the file under the state dir changed: %v %v", st, err)
	}
}

// 10. Every way of running a migration, killed at the risky moments in
// turn (each run resuming), then finished, then run once more: one
// migration operation, nothing changed by the last run.
func TestKillEveryMode(t *testing.T) {
	points := []string{"account-created", "import-sent", "plc-submitted", "start:activate", "before-deactivate"}

	type mode struct {
		env      map[string]string
		args     []string
		points   []string
		tokenOf  func() (string, error)
		finished func(t *testing.T) // checks after the final run
	}
	check := func(t *testing.T, net *localnet.Network, acct *localnet.Account, before snapshot, log0 int) {
		t.Helper()
		log := assertMigrated(t, net, acct, before, "")
		if n := migrationOps(t, log, net.B.URL); n != 1 {
			t.Errorf("%d migration operations, want 1", n)
		}
		if len(log) != log0+1 {
			t.Errorf("audit log has %d entries, want %d", len(log), log0+1)
		}
	}
	setup := map[string]func(t *testing.T, net *localnet.Network) (mode, *localnet.Account){
		"handle": func(t *testing.T, net *localnet.Network) (mode, *localnet.Account) {
			acct := seed(t, net.A, rcSmall("kmh", ""))
			before, log0 := takeSnapshot(t, net.A.URL, acct.DID, acct.Password), rcAuditLen(t, net, acct.DID)
			return mode{
				env: map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_NEW_PDS": net.B.URL, "ATMIGRATE_PLC_URL": net.PLCURL},
				args: []string{"migrate", "--account", acct.Handle, "--old-pds", net.A.URL,
					"--state-dir", t.TempDir(), "--yes"},
				points:   points,
				tokenOf:  func() (string, error) { return net.A.PLCToken(acct.Email) },
				finished: func(t *testing.T) { check(t, net, acct, before, log0) },
			}, acct
		},
		"rotation-key": func(t *testing.T, net *localnet.Network) (mode, *localnet.Account) {
			keyPath, userDK := userKey(t)
			acct := seed(t, net.A, rcSmall("kmr", userDK))
			before, log0 := takeSnapshot(t, net.A.URL, acct.DID, acct.Password), rcAuditLen(t, net, acct.DID)
			return mode{
				env:      migrateEnv(net, acct),
				args:     []string{"migrate", "--state-dir", t.TempDir(), "--yes", "--rotation-key", keyPath},
				points:   points,
				finished: func(t *testing.T) { check(t, net, acct, before, log0) },
			}, acct
		},
		"batch-plc-rotation-key": func(t *testing.T, net *localnet.Network) (mode, *localnet.Account) {
			acct := seed(t, net.A, rcSmall("kmb", ""))
			before, log0 := takeSnapshot(t, net.A.URL, acct.DID, acct.Password), rcAuditLen(t, net, acct.DID)
			dir := t.TempDir()
			keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
			accounts := writeFile(t, filepath.Join(dir, "accounts.csv"), fmt.Sprintf("account,old_password\n%s,env:BATCH_PW\n", acct.DID))
			state := filepath.Join(dir, "state")
			return mode{
				env: map[string]string{"BATCH_PW": acct.Password},
				args: []string{"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
					"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--plc-rotation-key", keyFile, "--yes"},
				points: points,
				finished: func(t *testing.T) {
					if e := reportEntry(t, readReport(t, state), acct.DID); e.Status != batch.Migrated {
						t.Errorf("report: %s (%s), want migrated", e.Status, e.Error)
					}
					check(t, net, acct, before, log0)
				},
			}, acct
		},
		"restore-from-backup": func(t *testing.T, net *localnet.Network) (mode, *localnet.Account) {
			keyPath, userDK := userKey(t)
			acct := seed(t, net.A, rcSmall("kmf", userDK))
			before, log0 := takeSnapshot(t, net.A.URL, acct.DID, acct.Password), rcAuditLen(t, net, acct.DID)
			backup := filepath.Join(t.TempDir(), "backup")
			r := atmigrate(t, map[string]string{"ATMIGRATE_OLD_PASSWORD": acct.Password, "ATMIGRATE_PLC_URL": net.PLCURL},
				"export", "--account", acct.DID, "--old-pds", net.A.URL, "--out", backup)
			if r.code != 0 {
				t.Fatalf("export: %s", r)
			}
			return mode{
				env:  map[string]string{"ATMIGRATE_NEW_PDS": net.B.URL, "ATMIGRATE_PLC_URL": net.PLCURL, "ATMIGRATE_NEW_PASSWORD": acct.Password},
				args: []string{"migrate", "--from-backup", backup, "--rotation-key", keyPath, "--state-dir", t.TempDir(), "--yes"},
				// The old PDS is not used: nothing to deactivate.
				points: points[:len(points)-1],
				finished: func(t *testing.T) {
					assertRestored(t, net, acct, before, acct.Password, userDK)
					log, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
					if err != nil {
						t.Fatal(err)
					}
					if n := migrationOps(t, log, net.B.URL); n != 1 {
						t.Errorf("%d migration operations, want 1", n)
					}
					// The temporary signing key, then the switch.
					if len(log) != log0+2 {
						t.Errorf("audit log has %d entries, want %d", len(log), log0+2)
					}
				},
			}, acct
		},
	}

	for _, name := range []string{"handle", "rotation-key", "batch-plc-rotation-key", "restore-from-backup"} {
		t.Run(name, func(t *testing.T) {
			rcElapsed(t)
			net := sharedNet(t)
			m, acct := setup[name](t, net)
			token := ""
			for _, p := range m.points {
				r := rcRunTo(t, m.env, m.args, p, m.tokenOf, &token)
				t.Logf("killed at %-18s (run took %s)", p, r.wall.Round(time.Millisecond))
			}
			env := withEnv(m.env, "ATMIGRATE_PLC_TOKEN", token)
			r := runBin(t, env, m.args...)
			if r.code != 0 {
				t.Fatalf("final run after %d kills: want exit 0\n%s", len(m.points), r)
			}
			m.finished(t)
			logLen := rcAuditLen(t, net, acct.DID)

			r = runBin(t, env, m.args...)
			if r.code != 0 {
				t.Fatalf("the same command once more: want exit 0\n%s", r)
			}
			if n := rcAuditLen(t, net, acct.DID); n != logLen {
				t.Errorf("the run after success changed the audit log: %d entries, was %d", n, logLen)
			}
			if !rcActive(t, net.B.URL, acct.DID) {
				t.Errorf("B's account is not active after the last run")
			}
		})
	}
}
