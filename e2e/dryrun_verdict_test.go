package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/plc"
)

// The dry run's three verdicts, each with its own exit code and line:
// a real run should succeed (exit 0), would stop at a stage (exit 1), or
// whether it succeeds cannot be told (exit 4). --json carries the same
// verdict, the stage it would stop at, and the side effects a real run
// would make, in order.

const (
	verdictLineOK      = "A real run should succeed."
	verdictLineStop    = "A real run would stop at "
	verdictLineUnknown = "Whether a real run succeeds cannot be told:"
)

// verdictReport is the part of the dry run's JSON report these tests read.
type verdictReport struct {
	Verdict  string   `json:"verdict"`
	StopsAt  string   `json:"stopsAt"`
	Blockers []string `json:"blockers"`
	Warnings []string `json:"warnings"`
	Unknown  []string `json:"unknown"`
	Effects  []struct {
		Stage string `json:"stage"`
		What  string `json:"what"`
	} `json:"effects"`
	Repo struct {
		Bytes int64 `json:"bytes"`
	} `json:"repo"`
}

func parseVerdict(t *testing.T, r run) verdictReport {
	t.Helper()
	var rep verdictReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parse the JSON report: %v\n%s", err, r)
	}
	return rep
}

// listed reports whether some entry of list contains sub.
func listed(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// section is the text of out from the line that starts with head on,
// or "" when no line does.
func section(out, head string) string {
	for i := 0; i < len(out); {
		line := out[i:]
		if strings.HasPrefix(line, head) {
			return line
		}
		j := strings.IndexByte(line, '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return ""
}

// writeBulk grows acct's repo by at least n bytes of records in a
// collection no lexicon knows (the PDS stores it unvalidated): records of
// 60 kB of incompressible text, two per applyWrites call (the PDS takes at
// most 150 kB of JSON a request).
func writeBulk(t *testing.T, acct *localnet.Account, n int) {
	t.Helper()
	const perRecord, perCall = 60_000, 2
	const collection = "com.example.atmigrate.bulk"
	ctx := ctxT(t)
	c, err := acct.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8(sha256.Sum256([]byte(acct.DID)))
	raw := make([]byte, perRecord*3/4)
	for written := 0; written < n; {
		writes := make([]*agnostic.RepoApplyWrites_Input_Writes_Elem, perCall)
		for i := range writes {
			rng.Read(raw)
			b, err := json.Marshal(map[string]any{
				"$type":     collection,
				"data":      base64.RawURLEncoding.EncodeToString(raw),
				"createdAt": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			})
			if err != nil {
				t.Fatal(err)
			}
			v := json.RawMessage(b)
			writes[i] = &agnostic.RepoApplyWrites_Input_Writes_Elem{
				RepoApplyWrites_Create: &agnostic.RepoApplyWrites_Create{Collection: collection, Value: &v},
			}
			written += perRecord
		}
		if _, err := agnostic.RepoApplyWrites(ctx, c, &agnostic.RepoApplyWrites_Input{Repo: acct.DID, Writes: writes}); err != nil {
			t.Fatalf("write bulk records: %v", err)
		}
	}
}

// TestDryRunCannotTellLargeRepo: a repo larger than the new PDS's upload
// limit, which PDS 0.5.x reports and which is also its import limit
// (PDS_MAX_REPO_IMPORT_SIZE) unless the admin set that, which no PDS
// reports. The dry run cannot tell whether the import will be taken: it
// says so (exit 4), naming the repo's size, the limit and the setting. The
// real run is then refused at the import (exit 2), so the doubt was real:
// B keeps the PDS's own import limit (localnet's DefaultImportLimitB, set
// by limitsNet; every other PDS here takes imports up to 1 GiB).
func TestDryRunCannotTellLargeRepo(t *testing.T) {
	start := time.Now()
	net := limitsNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("huge"), Posts: 10, Blobs: 2, BlobMinBytes: 2000, BlobMaxBytes: 4000, RecoveryKey: userDK})
	seedStart := time.Now()
	writeBulk(t, acct, 7_000_000)
	seeded := time.Since(seedStart)
	env := migrateEnv(net, acct)
	env["ATMIGRATE_RATELIMIT_BYPASS_KEY"] = net.B.RateLimitBypassKey // this test is about size
	args := []string{"migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath}
	const limit = 5 << 20 // B's default upload limit, reported by 0.5.x

	js := atmigrate(t, env, append(args, "--dry-run", "--json")...)
	rep := parseVerdict(t, js)
	if rep.Repo.Bytes <= limit+100_000 {
		t.Fatalf("the repo is %d bytes, not over B's %d-byte limit: seed more", rep.Repo.Bytes, limit)
	}
	size := units.HumanBytes(rep.Repo.Bytes)
	t.Logf("repo: %d bytes (%s), seeded in %s", rep.Repo.Bytes, size, seeded.Round(time.Millisecond))
	if js.code != 4 {
		t.Errorf("dry run --json: want exit 4 (cannot be told), got %d", js.code)
	}
	if rep.Verdict != "cannot-tell" {
		t.Errorf("dry run --json: verdict %q, want \"cannot-tell\"", rep.Verdict)
	}
	if !listed(rep.Unknown, "PDS_MAX_REPO_IMPORT_SIZE") {
		t.Errorf("dry run --json: no unknown entry names PDS_MAX_REPO_IMPORT_SIZE: %q", rep.Unknown)
	}
	if len(rep.Blockers) != 0 {
		t.Errorf("dry run --json: blockers %q (nothing is known to stop the run)", rep.Blockers)
	}

	r := atmigrate(t, env, append(args, "--dry-run")...)
	if r.code != 4 {
		t.Errorf("dry run: want exit 4 (cannot be told), got %d", r.code)
	}
	if strings.Contains(r.stdout, verdictLineOK) {
		t.Errorf("dry run: says %q of a repo over the import limit", verdictLineOK)
	}
	doubt := section(r.stdout, verdictLineUnknown)
	if doubt == "" {
		t.Errorf("dry run: no line %q", verdictLineUnknown)
	}
	for _, s := range []string{"  - ", size, units.HumanBytes(limit), "PDS_MAX_REPO_IMPORT_SIZE"} {
		if !strings.Contains(doubt, s) {
			t.Errorf("dry run: what cannot be told lacks %q", s)
		}
	}
	if t.Failed() {
		t.Errorf("dry run --json: %s\ndry run:\n%s", js, r)
	}

	// The real run, whatever the dry run said: its import is refused.
	r = atmigrate(t, env, args...)
	if r.code != 2 {
		t.Fatalf("real run: want exit 2 (the import refused as too large), got\n%s", r)
	}
	mustContain(t, r, "refused the "+size+" repo as too large", "PDS_MAX_REPO_IMPORT_SIZE")
	if t.Failed() {
		return
	}
	report(t, fmt.Sprintf("dry-run verdict: a %s repo over B's %s default import limit: the dry run cannot tell (exit 4), the real run is refused at the import (exit 2); %s",
		size, units.HumanBytes(limit), time.Since(start).Round(100*time.Millisecond)))
}

// TestDryRunVerdictsJSON: a clean small move is "should-succeed" (exit 0)
// with the side effects a real run would make, in order, none of them
// made; a wrong password is "would-stop" at login (exit 1).
func TestDryRunVerdictsJSON(t *testing.T) {
	start := time.Now()
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("verdict"), Posts: 20, Blobs: 2, BlobMinBytes: 2000, BlobMaxBytes: 4000, Profile: true, Preferences: true})
	logBefore, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir() + "/state"
	args := []string{"migrate", "--dry-run", "--json", "--state-dir", state}

	r := atmigrate(t, migrateEnv(net, acct), args...)
	rep := parseVerdict(t, r)
	if r.code != 0 || rep.Verdict != "should-succeed" || rep.StopsAt != "" {
		t.Errorf("clean move: want exit 0, verdict \"should-succeed\", no stopsAt; got exit %d, verdict %q, stopsAt %q\n%s", r.code, rep.Verdict, rep.StopsAt, r)
	}
	want := []string{"create-account", "import-repo", "blobs", "identity", "activate", "deactivate-old"}
	var got []string
	next := 0
	for _, e := range rep.Effects {
		got = append(got, e.Stage)
		if strings.TrimSpace(e.What) == "" {
			t.Errorf("effect at %s says nothing of what it does", e.Stage)
		}
		if next < len(want) && e.Stage == want[next] {
			next++
		}
	}
	if next < len(want) {
		t.Errorf("effects: stages %q, want %q among them in that order", got, want)
	}

	// Nothing written: no account on B, the PLC log as it was, no email,
	// no state dir.
	assertNoAccount(t, net.B, acct.DID)
	logNow, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(logNow) != len(logBefore) {
		t.Errorf("the PLC audit log changed: %d entries, %d before", len(logNow), len(logBefore))
	}
	if n := plcMails(t, net.A, acct.Email); n != 0 {
		t.Errorf("%d PLC emails sent", n)
	}
	if fileExists(state) {
		t.Errorf("the dry run created the state dir %s", state)
	}

	// A wrong password: the run would stop at login.
	r = atmigrate(t, migrateEnv(net, acct), append(args, "--old-password", "not-"+acct.Password)...)
	rep = parseVerdict(t, r)
	if r.code != 1 || rep.Verdict != "would-stop" || rep.StopsAt != "login" {
		t.Errorf("wrong password: want exit 1, verdict \"would-stop\", stopsAt \"login\"; got exit %d, verdict %q, stopsAt %q\n%s", r.code, rep.Verdict, rep.StopsAt, r)
	}
	if len(rep.Blockers) == 0 {
		t.Errorf("wrong password: no blockers listed\n%s", r)
	}
	assertNoAccount(t, net.B, acct.DID)
	if fileExists(state) {
		t.Errorf("the dry run created the state dir %s", state)
	}
	if t.Failed() {
		return
	}
	report(t, fmt.Sprintf("dry-run verdicts: should-succeed (exit 0) with effects %q and nothing written; wrong password would-stop at login (exit 1); %s",
		got, time.Since(start).Round(100*time.Millisecond)))
}
