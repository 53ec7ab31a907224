package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate/batch"
	"github.com/atmigrate/atmigrate/plc"
)

// seedMany creates n accounts on p of growing sizes (posts from minPosts to
// maxPosts, blobs from 0 to maxBlobs, small blobs), four at a time.
func seedMany(t *testing.T, p *localnet.PDS, prefix string, n, minPosts, maxPosts, maxBlobs int) []*localnet.Account {
	t.Helper()
	accts := make([]*localnet.Account, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			frac := 0.0
			if n > 1 {
				frac = float64(i) / float64(n-1)
			}
			accts[i], errs[i] = p.CreateAccount(ctx, localnet.SeedSpec{
				Handle:       uniq(fmt.Sprintf("%s%d-", prefix, i)),
				Posts:        minPosts + int(frac*float64(maxPosts-minPosts)),
				Blobs:        int(frac * float64(maxBlobs)),
				BlobMinBytes: 1_000, BlobMaxBytes: 8_000,
				Profile: i%3 == 0, Preferences: i%2 == 0,
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("seed account %d: %v", i, err)
		}
	}
	return accts
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readReport(t *testing.T, dir string) batch.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, batch.ReportJSON))
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	var rep batch.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return rep
}

func reportEntry(t *testing.T, rep batch.Report, account string) *batch.Entry {
	t.Helper()
	for _, e := range rep.Accounts {
		if e.Account == account {
			return e
		}
	}
	t.Fatalf("report has no entry for %s", account)
	return nil
}

// TestBatchEndToEnd moves 11 accounts of different sizes from A to B, three
// at a time, signing every PLC operation with A's rotation key; a twelfth
// account has a wrong password and fails alone. Then two accounts go
// through a batch without the key: they end awaiting-token with their
// data on B, and --tokens finishes them.
func TestBatchEndToEnd(t *testing.T) {
	net := newNet(t, localnet.Options{})
	t0 := time.Now()
	accts := seedMany(t, net.A, "b", 11, 20, 300, 15)
	bad := seed(t, net.A, localnet.SeedSpec{Handle: uniq("badpw"), Posts: 10})
	t.Logf("seeded 12 accounts in %s", time.Since(t0).Round(time.Millisecond))

	befores := make([]snapshot, len(accts))
	for i, a := range accts {
		befores[i] = takeSnapshot(t, net.A.URL, a.DID, a.Password)
	}

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	writeFile(t, filepath.Join(dir, "pw.txt"), localnet.DefaultPassword+"\n")
	// Accounts by DID and by handle; passwords from the environment, from
	// a file and inline (which warns once).
	var sb strings.Builder
	sb.WriteString("account,old_password,new_email\n")
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.DID
		if i%2 == 1 {
			names[i] = a.Handle
		}
		pw := []string{"env:BATCH_PW", "file:pw.txt", a.Password}[i%3]
		fmt.Fprintf(&sb, "%s,%s,\n", names[i], pw)
	}
	fmt.Fprintf(&sb, "%s,not-the-password,\n", bad.Handle)
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"), sb.String())

	env := map[string]string{"BATCH_PW": localnet.DefaultPassword}
	args := []string{"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
		"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--parallel-accounts", "3", "--plc-rotation-key", keyFile, "--yes"}
	t0 = time.Now()
	r := atmigrate(t, env, args...)
	t.Logf("batch of 12 accounts in %s", time.Since(t0).Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("batch with one wrong password: want exit 1\n%s", r)
	}
	t.Logf("batch output:\n%s%s", r.stderr, r.stdout)
	if n := strings.Count(r.stderr, "inline"); n != 1 {
		t.Errorf("the inline-secrets warning shows %d times, want once", n)
	}
	if strings.Contains(r.stderr+r.stdout, "not-the-password") || strings.Contains(r.stderr+r.stdout, localnet.DefaultPassword) {
		t.Errorf("a password shows in the output")
	}

	rep := readReport(t, state)
	for i, a := range accts {
		e := reportEntry(t, rep, names[i])
		if e.Status != batch.Migrated || e.DID != a.DID || e.PLCMethod != "rotation-key" {
			t.Errorf("%s: %+v", names[i], e)
		}
		log := assertMigrated(t, net, a, befores[i], "")
		if n := migrationOps(t, log, net.B.URL); n != 1 {
			t.Errorf("%s: %d migration operations, want 1", names[i], n)
		}
	}
	be := reportEntry(t, rep, bad.Handle)
	if be.Status != batch.FailedPermanent || !strings.Contains(be.Error, "refused the password") || be.DID != bad.DID {
		t.Errorf("wrong-password account: %+v", be)
	}
	if rep.Summary.Migrated != 11 || rep.Summary.FailedPermanent != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
	csvb, err := os.ReadFile(filepath.Join(state, batch.ReportCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(csvb))).ReadAll()
	if err != nil || len(rows) != 13 {
		t.Fatalf("report.csv: %d rows, %v", len(rows), err)
	}
	found := false
	for _, row := range rows {
		if row[0] == bad.Handle {
			found = row[2] == "failed-permanent" && strings.Contains(row[9], "refused the password")
		}
	}
	if !found {
		t.Errorf("report.csv lacks the wrong-password row:\n%s", csvb)
	}
	mustContain(t, r, "ACCOUNT", "11 migrated", "1 failed-permanent", "refused the password")

	// The single-account commands work on a batch account's state dir.
	rs := atmigrate(t, nil, "status", "--state-dir", filepath.Join(state, accts[0].DID))
	if rs.code != 0 || !strings.Contains(rs.stdout, "status    migrated") {
		t.Errorf("status of one batch account:\n%s", rs)
	}
	rs = atmigrate(t, nil, "batch", "status", "--state-dir", state)
	if rs.code != 0 || !strings.Contains(rs.stdout, accts[5].DID) || !strings.Contains(rs.stdout, "failed-permanent") {
		t.Errorf("batch status:\n%s", rs)
	}

	// A second run leaves migrated accounts and the permanent failure alone.
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), accts[3].DID)
	if err != nil {
		t.Fatal(err)
	}
	r = atmigrate(t, env, args...)
	if r.code != 1 || strings.Contains(r.stderr, "starting") || strings.Contains(r.stderr, "resuming") {
		t.Errorf("second run: want exit 1 with no account run\n%s", r)
	}
	logAfter, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), accts[3].DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(logAfter) != len(logBefore) {
		t.Errorf("the second run changed the audit log")
	}

	// Without the rotation key: data first, then awaiting-token; --tokens
	// finishes.
	tok := seedMany(t, net.A, "tok", 2, 30, 60, 3)
	tokBefore := []snapshot{takeSnapshot(t, net.A.URL, tok[0].DID, tok[0].Password), takeSnapshot(t, net.A.URL, tok[1].DID, tok[1].Password)}
	tokState := filepath.Join(dir, "tokstate")
	tokAccounts := writeFile(t, filepath.Join(dir, "tok.jsonl"),
		fmt.Sprintf(`{"account": %q, "old_password": "env:BATCH_PW"}`+"\n"+`{"account": %q, "old_password": "file:pw.txt"}`+"\n", tok[0].Handle, tok[1].DID))
	tokArgs := []string{"batch", "--accounts", tokAccounts, "--new-pds", net.B.URL, "--state-dir", tokState,
		"--old-pds", net.A.URL, "--plc-url", net.PLCURL, "--yes"}
	r = atmigrate(t, env, tokArgs...)
	if r.code != 3 {
		t.Fatalf("batch without key or tokens: want exit 3\n%s", r)
	}
	mustContain(t, r, "awaiting-token", "--tokens")
	if strings.Contains(r.stderr, "inline") {
		t.Errorf("warned about inline secrets with none inline:\n%s", r)
	}
	rep = readReport(t, tokState)
	for _, e := range rep.Accounts {
		if e.Status != batch.AwaitingToken {
			t.Errorf("%s: %s, want awaiting-token", e.Account, e.Status)
		}
	}
	for _, a := range tok {
		st, err := login(t, net.B.URL, a.DID, a.Password).CheckAccountStatus(ctxT(t))
		if err != nil || st.Activated || st.ImportedBlobs != st.ExpectedBlobs || st.IndexedRecords < 30 {
			t.Errorf("B holds %s's data before the token? %+v %v", a.Handle, st, err)
		}
	}
	// A run without tokens leaves them alone (no new email).
	r = atmigrate(t, env, tokArgs...)
	if r.code != 3 || strings.Contains(r.stderr, "starting") {
		t.Errorf("run without tokens: want exit 3, no account run\n%s", r)
	}
	var tb strings.Builder
	tb.WriteString("account,token\n")
	for i, a := range tok {
		token, err := net.A.PLCToken(a.Email)
		if err != nil {
			t.Fatal(err)
		}
		key := a.Handle
		if i == 1 {
			key = a.DID
		}
		fmt.Fprintf(&tb, "%s,%s\n", key, token)
	}
	tokens := writeFile(t, filepath.Join(dir, "tokens.csv"), tb.String())
	r = atmigrate(t, env, append(tokArgs, "--tokens", tokens)...)
	if r.code != 0 {
		t.Fatalf("batch with tokens: want exit 0\n%s", r)
	}
	t.Logf("token batch output:\n%s%s", r.stderr, r.stdout)
	for i, a := range tok {
		log := assertMigrated(t, net, a, tokBefore[i], "")
		if n := migrationOps(t, log, net.B.URL); n != 1 {
			t.Errorf("%s: %d migration operations, want 1", a.Handle, n)
		}
	}
	for _, e := range readReport(t, tokState).Accounts {
		if e.Status != batch.Migrated || e.PLCMethod != "email-token" {
			t.Errorf("%s after tokens: %+v", e.Account, e)
		}
	}
}

// TestBatchKilledAndResumed kills a batch of 10 accounts (kill -9) once
// two have finished and a third reaches its PLC operation, runs it again, and checks that every account ends
// migrated with exactly one migration operation.
func TestBatchKilledAndResumed(t *testing.T) {
	net := newNet(t, localnet.Options{RateLimitsB: true})
	accts := seedMany(t, net.A, "k", 10, 40, 250, 12)
	befores := make([]snapshot, len(accts))
	for i, a := range accts {
		befores[i] = takeSnapshot(t, net.A.URL, a.DID, a.Password)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase)
	var sb strings.Builder
	sb.WriteString("account,old_password\n")
	for _, a := range accts {
		fmt.Fprintf(&sb, "%s,env:BATCH_PW\n", a.DID)
	}
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"), sb.String())
	env := map[string]string{"BATCH_PW": localnet.DefaultPassword, "ATMIGRATE_RATELIMIT_BYPASS_KEY": net.B.RateLimitBypassKey}
	args := []string{"batch", "--accounts", accounts, "--new-pds", net.B.URL, "--state-dir", state,
		"--plc-url", net.PLCURL, "--parallel-accounts", "3", "--plc-rotation-key", keyFile, "--yes"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = baseEnv(t, env)
	stderr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var first strings.Builder
	sc := bufio.NewScanner(stderr)
	done := 0
	for sc.Scan() {
		first.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "migrated in") {
			done++
		}
		// Kill -9 once two accounts are done and another is at its PLC
		// operation: the others in flight are mid-transfer.
		if done >= 2 && strings.Contains(sc.Text(), "identity") {
			_ = cmd.Process.Kill()
			break
		}
	}
	_ = cmd.Wait()
	t.Logf("killed run:\n%s", first.String())
	if done < 2 {
		t.Fatalf("the batch ended before 2 accounts finished:\n%s", first.String())
	}
	st := batch.Summary{}
	if idx, err := batch.LoadStatus(state); err != nil || idx == nil {
		t.Fatalf("batch status after the kill: %v", err)
	} else {
		st = idx.Summary()
	}
	t.Logf("after the kill: %+v", st)
	if st.Migrated >= len(accts) || st.Migrated < 2 {
		t.Fatalf("after the kill %d of %d accounts migrated; want some but not all", st.Migrated, len(accts))
	}

	r := atmigrate(t, env, args...)
	if r.code != 0 {
		t.Fatalf("re-run after the kill: want exit 0\n%s", r)
	}
	t.Logf("re-run:\n%s%s", r.stderr, r.stdout)
	if n := strings.Count(r.stderr, "migrated in"); n != len(accts)-st.Migrated {
		t.Errorf("the re-run finished %d accounts, want %d (the others were done)", n, len(accts)-st.Migrated)
	}
	for i, a := range accts {
		log := assertMigrated(t, net, a, befores[i], "")
		if n := migrationOps(t, log, net.B.URL); n != 1 {
			t.Errorf("%s: %d migration operations, want 1", a.DID, n)
		}
	}
	if rep := readReport(t, state); rep.Summary.Migrated != len(accts) {
		t.Errorf("report summary %+v", rep.Summary)
	}
}

// TestBatchSharesRateLimit: when the new PDS answers one upload with 429
// and a reset time, every account of the batch holds its uploads until
// then (the shared pacer), instead of each worker spending requests
// against the limit; the batch still moves every account.
func TestBatchSharesRateLimit(t *testing.T) {
	net := sharedNet(t)
	var accts []*localnet.Account
	for i := 0; i < 2; i++ {
		accts = append(accts, seed(t, net.A, localnet.SeedSpec{Handle: uniq(fmt.Sprintf("rl%d", i)), Posts: 20, Blobs: 30, BlobMinBytes: 5_000, BlobMaxBytes: 20_000}))
	}
	befores := []snapshot{takeSnapshot(t, net.A.URL, accts[0].DID, accts[0].Password), takeSnapshot(t, net.A.URL, accts[1].DID, accts[1].Password)}

	var mu sync.Mutex
	var limitedAt time.Time
	var uploads []time.Time
	pb := newFrontProxy(t, net.B.URL)
	pb.rule(func(r *http.Request) fault {
		n, ok := is(r, nsidUploadBlob)
		if !ok {
			return fault{}
		}
		mu.Lock()
		defer mu.Unlock()
		uploads = append(uploads, time.Now())
		if n == 5 {
			limitedAt = time.Now()
			return rateLimited(3 * time.Second) // a reset 2-3 s away (whole seconds)
		}
		return fault{}
	})

	dir := t.TempDir()
	keyFile := writeFile(t, filepath.Join(dir, "a-rotation.key"), net.A.RotationKeyMultibase+"\n")
	accounts := writeFile(t, filepath.Join(dir, "accounts.csv"),
		fmt.Sprintf("account,old_password\n%s,env:BATCH_PW\n%s,env:BATCH_PW\n", accts[0].DID, accts[1].DID))
	state := filepath.Join(dir, "state")
	r := atmigrate(t, map[string]string{"BATCH_PW": localnet.DefaultPassword}, "batch", "--accounts", accounts,
		"--new-pds", pb.URL, "--state-dir", state, "--old-pds", net.A.URL, "--plc-url", net.PLCURL,
		"--parallel-accounts", "2", "--plc-rotation-key", keyFile, "--yes")
	if r.code != 0 {
		t.Fatalf("batch: want exit 0\n%s", r)
	}
	rep := readReport(t, state)
	for i, a := range accts {
		if e := reportEntry(t, rep, a.DID); e.Status != batch.Migrated {
			t.Errorf("%s: %+v", a.Handle, e)
		}
		assertMigrated(t, net, a, befores[i], "")
	}

	mu.Lock()
	defer mu.Unlock()
	if limitedAt.IsZero() {
		t.Fatal("no upload was rate limited")
	}
	// Requests already past the pacer when the 429 came may still arrive
	// in its first moments; nothing may arrive after that until the reset.
	var during []time.Duration
	for _, u := range uploads {
		if d := u.Sub(limitedAt); d > 200*time.Millisecond && d < 1800*time.Millisecond {
			during = append(during, d.Round(time.Millisecond))
		}
	}
	if len(during) > 0 {
		t.Errorf("%d uploads reached the new PDS during the rate-limit hold (after the 429 by %v)", len(during), during)
	}
	if len(uploads) < 60 {
		t.Errorf("%d upload requests, want at least the 60 blobs", len(uploads))
	}
	var resumed time.Duration
	for _, u := range uploads {
		if d := u.Sub(limitedAt); d > 200*time.Millisecond && (resumed == 0 || d < resumed) {
			resumed = d
		}
	}
	report(t, fmt.Sprintf("rate-limit test: a 429 on one upload held the batch's uploads for %s (%d reached the new PDS during the hold); %d upload requests, both accounts migrated",
		resumed.Round(10*time.Millisecond), len(during), len(uploads)))
}
