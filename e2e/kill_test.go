package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/plc"
)

// killPoints are where TestKillAnywhere kills the binary, in order, each
// run resuming from the state the previous one left. "external" is a real
// kill -9 from the test at a random moment of the blob transfer; the
// others are crash points (ATMIGRATE_TEST_CRASH_AT) where the binary
// SIGKILLs itself. Every stage is covered, including the moments that a
// timer could not hit: between createAccount and its checkpoint, between
// the PLC submission and its checkpoint, between the PLC switch and the
// activation, between the deactivation and its checkpoint.
var killPoints = []string{
	"start:export-repo",                // before anything is downloaded
	"repo-downloaded",                  // repo on disk, blob list not yet written
	"blob-downloaded#5",                // prefetch of blobs under way
	"account-created",                  // createAccount done, not checkpointed
	"before-checkpoint:create-account", // taken over, not checkpointed
	"import-sent",                      // importRepo answered, not checkpointed
	"blob-uploaded#7",                  // in the middle of the uploads
	"external",                         // kill -9 from outside during the uploads
	"done:blobs",                       // blobs checkpointed, preferences next
	"before-checkpoint:preferences",    // preferences written, not checkpointed
	"start:catch-up",                   // after verify-new
	"plc-before-submit",                // op signed (email token spent), not sent
	"plc-submitted",                    // op sent, not checkpointed
	"start:activate",                   // DID switched, B not yet active
	"before-deactivate",                // B active, A still active
	"before-checkpoint:deactivate-old", // A deactivated, not checkpointed
	"before-checkpoint:final-check",    // checked, not marked complete
}

// TestKillAnywhere kills one migration at every point of killPoints in
// turn, then lets it finish: the result must be exactly what an
// uninterrupted migration gives, with one PLC operation. After every kill
// the state file must parse, `atmigrate status` must work, and the
// invariants must hold: no PLC operation while B lacks anything, A never
// deactivated before the DID points at an active B.
func TestKillAnywhere(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("kill"), Posts: 250, Blobs: 25,
		BlobMinBytes: 5_000, BlobMaxBytes: 20_000, Preferences: true,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	ctx := ctxT(t)
	plcc := plc.NewClient(net.PLCURL, nil)
	log0, err := plcc.AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	commitA, _, err := pds.New(net.A.URL, pds.Options{}).GetLatestCommit(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}

	// B is reached through a proxy, so --new-pds differs from the URL B
	// puts in the DID document; the proxy also slows requests when a kill
	// needs a wider window.
	pb := newFrontProxy(t, net.B.URL)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = pb.URL
	state := t.TempDir()
	args := []string{"migrate", "--state-dir", state, "--yes"}
	token := ""

	// runTo runs until the binary dies at point, doing the PLC token
	// dance on the way: a pause (exit 3) means a token was emailed; a
	// refused token (spent by a run killed after signing) means ask anew.
	runTo := func(point string) procResult {
		t.Helper()
		for attempt := 0; attempt < 4; attempt++ {
			e := withEnv(env, "ATMIGRATE_TEST_CRASH_AT", point, "ATMIGRATE_PLC_TOKEN", token)
			r := runBin(t, e, args...)
			switch {
			case r.killed():
				return r
			case r.code == 3:
				tok, err := net.A.PLCToken(acct.Email)
				if err != nil {
					t.Fatalf("paused but no token mail: %v\n%s", err, r)
				}
				t.Logf("  (paused for the PLC token before %s)", point)
				token = tok
			case r.code == 2 && strings.Contains(r.stderr, "refused the PLC token"):
				t.Logf("  (the token was spent by the killed run: asking for a new one)")
				token = ""
			default:
				t.Fatalf("kill point %s was not reached: want SIGKILL, got\n%s", point, r)
			}
		}
		t.Fatalf("kill point %s: no kill after 4 runs", point)
		return procResult{}
	}

	var done []string
	for _, point := range killPoints {
		var r procResult
		switch point {
		case "external":
			r = killDuringBlobs(t, pb, env, token, args)
		case "blob-downloaded#5":
			// Hold createAccount back so the prefetch surely gets to its
			// fifth blob first.
			pb.setDelay(func(nsid string, _ int) time.Duration {
				if nsid == "com.atproto.server.createAccount" {
					return 3 * time.Second
				}
				return 0
			})
			r = runTo(point)
			pb.setDelay(nil)
		default:
			r = runTo(point)
		}
		if !r.killed() {
			t.Fatalf("%s: want death by SIGKILL, got\n%s", point, r)
		}
		done = append(done, point)
		t.Logf("killed at %-34s (run took %s)", point, r.wall.Round(time.Millisecond))
		st := loadState(t, state)
		statusOK(t, state)
		checkInvariants(t, net, acct, pb, log0, commitA, st, point)
	}

	r := runBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if r.code != 0 {
		t.Fatalf("final run after %d kills: want exit 0\n%s", len(done), r)
	}
	log := assertMigrated(t, net, acct, before, "")
	if n := migrationOps(t, log, net.B.URL); n != 1 {
		t.Errorf("%d migration operations in the audit log, want exactly 1", n)
	}
	if len(log) != len(log0)+1 {
		t.Errorf("audit log has %d entries, want %d (one operation added)", len(log), len(log0)+1)
	}
	if st := loadState(t, state); !st.Completed {
		t.Errorf("state not completed after the final run")
	}
	summary := fmt.Sprintf("kill test: %d kill points, resumed each time, 1 PLC op, all %d records and %d blobs on B (%s): %s",
		len(done), len(before.records), len(before.blobs), time.Since(start).Round(100*time.Millisecond), strings.Join(done, ", "))
	report(t, summary)
}

// killDuringBlobs runs the migration with uploads slowed down and kills it
// with a real kill -9 at a random moment after the blobs stage started.
func killDuringBlobs(t *testing.T, pb *frontProxy, env map[string]string, token string, args []string) procResult {
	t.Helper()
	pb.setDelay(func(nsid string, _ int) time.Duration {
		if nsid == "com.atproto.repo.uploadBlob" {
			return 200 * time.Millisecond
		}
		return 0
	})
	defer pb.setDelay(nil)
	uploads := pb.callCount("com.atproto.repo.uploadBlob")
	p := startBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), append(args, "--blob-concurrency", "2")...)
	if !p.waitFor("] blobs:", time.Minute) {
		r := p.wait(time.Minute)
		t.Fatalf("the blobs stage never started:\n%s", r)
	}
	// Wait for the transfer to be under way, then kill at a random moment.
	for pb.callCount("com.atproto.repo.uploadBlob") == uploads {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	r := p.wait(time.Minute)
	st := loadState(t, stateDirOf(args))
	if st.Done(stage.Blobs) {
		t.Fatalf("the external kill came after the blobs stage:\n%s", r)
	}
	return r
}

func stateDirOf(args []string) string {
	for i, a := range args {
		if a == "--state-dir" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// checkInvariants checks, after a kill, what must hold at every moment.
func checkInvariants(t *testing.T, net *localnet.Network, acct *localnet.Account, pb *frontProxy, log0 []didplc.LogEntry, commitA string, st *checkpoint.State, point string) {
	t.Helper()
	ctx := ctxT(t)
	log, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	pst, err := plc.StateFromLog(acct.DID, log)
	if err != nil {
		t.Fatalf("after %s: the audit log does not verify: %v", point, err)
	}
	switched := len(log) > len(log0)
	if len(log) > len(log0)+1 {
		t.Fatalf("after %s: %d operations added to the audit log", point, len(log)-len(log0))
	}
	if switched {
		// Invariant 1: the PLC operation exists only if B has everything.
		if pst.Endpoint() != net.B.URL {
			t.Fatalf("after %s: the new operation points at %s, not B's public URL %s", point, pst.Endpoint(), net.B.URL)
		}
		b := login(t, net.B.URL, acct.DID, acct.Password)
		as, err := b.CheckAccountStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		missing, err := b.ListMissingBlobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// After sign-commit B's latest commit is its own, over the same
		// records (its own stage proves that); before it, A's.
		signed := st != nil && st.Done(stage.SignCommit)
		if (as.RepoCommit != commitA && !signed) || as.ImportedBlobs != as.ExpectedBlobs || len(missing) > 0 {
			t.Fatalf("after %s: PLC switched while B is incomplete: %+v, %d missing", point, as, len(missing))
		}
	}
	// Invariant 2: A is deactivated only once the DID points at an active B.
	ra, err := pds.New(net.A.URL, pds.Options{}).GetRepoStatus(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if !ra.Active {
		rb, err := pds.New(net.B.URL, pds.Options{}).GetRepoStatus(ctx, acct.DID)
		if err != nil || !rb.Active || !switched {
			t.Fatalf("after %s: A deactivated while B is %+v (%v), PLC switched %v", point, rb, err, switched)
		}
	}
	if !switched && !st.PLC.Submitted.IsZero() {
		t.Fatalf("after %s: the state says submitted but the audit log has no new operation", point)
	}
}

// proc is a running atmigrate whose stderr is collected as it comes.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer

	mu      sync.Mutex
	stderr  strings.Builder
	eof     chan struct{}
	started time.Time
}

// startBin starts the binary with env added to a clean environment.
func startBin(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(binPath, args...), eof: make(chan struct{})}
	p.cmd.Env = baseEnv(t, env)
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start atmigrate: %v", err)
	}
	go func() {
		defer close(p.eof)
		buf := make([]byte, 4096)
		for {
			n, err := errPipe.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.stderr.Write(buf[:n])
				p.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitFor waits until stderr contains s; false on timeout or exit.
func (p *proc) waitFor(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderrText(), s) {
			return true
		}
		select {
		case <-p.eof:
			return strings.Contains(p.stderrText(), s)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return false
}

// procResult is a finished run, with the signal that ended it, if any.
type procResult struct {
	run
	signal syscall.Signal
	wall   time.Duration
}

func (r procResult) killed() bool { return r.signal == syscall.SIGKILL }

func (r procResult) String() string {
	if r.signal != 0 {
		return fmt.Sprintf("signal %v\n--- stdout\n%s--- stderr\n%s", r.signal, r.stdout, r.stderr)
	}
	return r.run.String()
}

// wait waits for the process to end (killing it after timeout).
func (p *proc) wait(timeout time.Duration) procResult {
	p.t.Helper()
	timer := time.AfterFunc(timeout, func() { _ = p.cmd.Process.Kill() })
	defer timer.Stop()
	<-p.eof
	err := p.cmd.Wait()
	res := procResult{run: run{stdout: p.stdout.String(), stderr: p.stderrText()}, wall: time.Since(p.started)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.signal = ws.Signal()
		}
	} else if err != nil {
		p.t.Fatalf("wait for atmigrate: %v", err)
	}
	return res
}

// runBin runs the binary to the end.
func runBin(t *testing.T, env map[string]string, args ...string) procResult {
	t.Helper()
	return startBin(t, env, args...).wait(3 * time.Minute)
}

// withEnv copies env with extra pairs set ("" deletes).
func withEnv(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// loadState reads the state dir, failing the test if it does not parse.
func loadState(t *testing.T, dir string) *checkpoint.State {
	t.Helper()
	st, err := checkpoint.Load(dir)
	if err != nil {
		t.Fatalf("state.json after the run: %v", err)
	}
	if st == nil {
		t.Fatalf("no state.json in %s", dir)
	}
	return st
}

// statusOK runs `atmigrate status` on dir and returns its output.
func statusOK(t *testing.T, dir string) string {
	t.Helper()
	r := atmigrate(t, nil, "status", "--state-dir", dir)
	if r.code != 0 {
		t.Fatalf("status --state-dir %s: %s", dir, r)
	}
	return r.stdout + r.stderr
}

// frontProxy is a faultProxy behind a front door that counts calls per
// XRPC method and can delay a request or truncate a response body cleanly
// (no Content-Length, a proper end: only a CID or size check catches it).
// The call number of the request within its method is passed to the
// faultProxy's rules (callN), so rules can pick "the 2nd getBlob".
type frontProxy struct {
	*faultProxy
	front *httptest.Server
	// URL is the front door's URL: give this to atmigrate.
	URL string

	mu       sync.Mutex
	calls    map[string]int
	extra    map[string]int
	delay    func(nsid string, n int) time.Duration
	truncate func(nsid string, n int) bool
}

const callHeader = "X-Test-Call-N"

func newFrontProxy(t *testing.T, target string) *frontProxy {
	t.Helper()
	p := &frontProxy{faultProxy: newFaultProxy(t, target), calls: map[string]int{}, extra: map[string]int{}}
	p.front = httptest.NewServer(http.HandlerFunc(p.serveFront))
	p.URL = p.front.URL
	t.Cleanup(p.front.Close)
	return p
}

func nsidOf(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/xrpc/") }

// callN is the request's number within its method (1 = first).
func callN(r *http.Request) int {
	n, _ := strconv.Atoi(r.Header.Get(callHeader))
	return n
}

func (p *frontProxy) setDelay(f func(nsid string, n int) time.Duration) {
	p.mu.Lock()
	p.delay = f
	p.mu.Unlock()
}

func (p *frontProxy) setTruncate(f func(nsid string, n int) bool) {
	p.mu.Lock()
	p.truncate = f
	p.mu.Unlock()
}

// callCount is how many requests for nsid reached the front door.
func (p *frontProxy) callCount(nsid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[nsid]
}

// faults returns every fault injected, by kind, front door included.
func (p *frontProxy) faults() map[string]int {
	out := p.faultProxy.counts()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.extra {
		out[k] += v
	}
	return out
}

func (p *frontProxy) serveFront(w http.ResponseWriter, r *http.Request) {
	nsid := nsidOf(r)
	p.mu.Lock()
	p.calls[nsid]++
	n := p.calls[nsid]
	var d time.Duration
	if p.delay != nil {
		d = p.delay(nsid, n)
	}
	trunc := p.truncate != nil && p.truncate(nsid, n)
	if d > 0 {
		p.extra["delay"]++
	}
	if trunc {
		p.extra["truncated-body"]++
	}
	p.mu.Unlock()
	r.Header.Set(callHeader, strconv.Itoa(n))
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if trunc {
		p.serveTruncated(w, r)
		return
	}
	p.faultProxy.serve(w, r)
}

// serveTruncated forwards the request and answers with the first half of
// the body, chunked, ending properly.
func (p *frontProxy) serveTruncated(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.Host = p.target.Host
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body[:len(body)/2])
}

// faultSummary formats fault counts in a stable order.
func faultSummary(m map[string]int) string {
	var keys []string
	total := 0
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// rateLimited is a 429 whose RateLimit-Reset (epoch seconds) is d ahead.
func rateLimited(d time.Duration) fault {
	return fault{
		status: http.StatusTooManyRequests,
		body:   `{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`,
		header: map[string]string{
			"RateLimit-Limit":     "100",
			"RateLimit-Remaining": "0",
			"RateLimit-Reset":     strconv.FormatInt(time.Now().Add(d).Unix(), 10),
		},
	}
}

func serverError() fault {
	return fault{status: http.StatusInternalServerError, body: `{"error":"InternalServerError","message":"Internal Server Error"}`}
}

func expiredToken() fault {
	return fault{status: http.StatusBadRequest, body: `{"error":"ExpiredToken","message":"Token has expired"}`}
}

// TestInterruptSaveAndResume sends SIGINT (Ctrl-C) in the middle of the
// blob transfer: the binary must stop within seconds with exit 130, save
// the state, say how to continue, and the same command must then finish.
func TestInterruptSaveAndResume(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{
		Handle: uniq("sigint"), Posts: 200, Blobs: 20,
		BlobMinBytes: 5_000, BlobMaxBytes: 15_000,
	})
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)
	// Slow blob downloads make the transfer last long enough to be
	// interrupted in its middle.
	pa := newFrontProxy(t, net.A.URL)
	pa.setDelay(func(nsid string, _ int) time.Duration {
		if nsid == nsidGetBlob {
			return 400 * time.Millisecond
		}
		return 0
	})
	env := migrateEnv(net, acct)
	state := t.TempDir()
	args := []string{"migrate", "--old-pds", pa.URL, "--state-dir", state, "--yes", "--blob-concurrency", "2"}

	p := startBin(t, env, args...)
	if !p.waitFor("] blobs:", time.Minute) {
		t.Fatalf("the blobs stage never started:\n%s", p.wait(time.Minute))
	}
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := p.wait(time.Minute)
	stopped := time.Since(sent)
	if r.code != 130 {
		t.Fatalf("after SIGINT: want exit 130\n%s", r)
	}
	if stopped > 5*time.Second {
		t.Errorf("took %s to stop after SIGINT", stopped)
	}
	mustContain(t, r.run, "interrupted", "run the same command again")
	st := loadState(t, state)
	if st.Done(stage.Blobs) || !st.Done(stage.ImportRepo) {
		t.Errorf("state after the interrupt: blobs done %v, import done %v; want the interrupt inside the blob stage",
			st.Done(stage.Blobs), st.Done(stage.ImportRepo))
	}
	out := statusOK(t, state)
	if !strings.Contains(out, "interrupted") {
		t.Errorf("status after the interrupt does not say the run was interrupted:\n%s", out)
	}
	if len(st.Blobs.Missing) == 0 || !strings.Contains(out, "missing "+st.Blobs.Missing[0]) {
		t.Errorf("status after the interrupt does not list the blobs still missing on B:\n%s", out)
	}

	pa.setDelay(nil)
	r = runBin(t, env, args...)
	if r.code != 3 {
		t.Fatalf("resume: want the pause for the token (exit 3)\n%s", r)
	}
	r = runWithToken(t, net, acct, env, args...)
	assertOneMigration(t, net, acct, before)
	report(t, fmt.Sprintf("interrupt test: SIGINT in the blob transfer, exit 130 after %s, state saved, resumed and finished (%s)", stopped.Round(time.Millisecond), time.Since(start).Round(100*time.Millisecond)))
}

// report logs a summary line, prints it to stdout (shown with -v or when
// the package fails) and appends it to the file named by
// ATMIGRATE_E2E_REPORT, if set, so CI can show it after a quiet
// `go test ./...` (which hides the output of passing packages).
func report(t *testing.T, line string) {
	t.Helper()
	t.Log(line)
	fmt.Println(line)
	if path := os.Getenv("ATMIGRATE_E2E_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("report file: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "%s: %s\n", t.Name(), line)
	}
}

// runWithToken runs the command again with the newest PLC token emailed
// to the account, and wants it to finish (exit 0).
func runWithToken(t *testing.T, net *localnet.Network, acct *localnet.Account, env map[string]string, args ...string) procResult {
	t.Helper()
	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	r := runBin(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if r.code != 0 {
		t.Fatalf("run with the token: want exit 0\n%s", r)
	}
	return r
}
