package batch

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseAccountsCSV(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bob.pw"), []byte("bob-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := "\ufeffAccount, old_password ,new-handle,new_email,new_password,invite_code,rotation_key_file\n" +
		"# a comment\n" +
		"alice.example.com,env:ALICE_PW,alice.new.example,,,,\n" +
		"did:plc:bob,file:bob.pw,,bob@new.example,file:bob.pw,env:INVITE,keys/bob.key\n" +
		",,,,,,\n" +
		"carol.example.com,inline-pw,,,,,\n" +
		"dave.example.com\n"
	af, err := ParseAccounts(strings.NewReader(in), dir, env(map[string]string{"ALICE_PW": "alice-secret", "INVITE": "inv-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(af.Accounts) != 4 {
		t.Fatalf("%d accounts: %+v", len(af.Accounts), af.Accounts)
	}
	a, b, c, d := af.Accounts[0], af.Accounts[1], af.Accounts[2], af.Accounts[3]
	if a.Account != "alice.example.com" || a.OldPassword != "alice-secret" || a.NewHandle != "alice.new.example" || a.Line != 3 {
		t.Errorf("alice: %+v", a)
	}
	if b.OldPassword != "bob-secret" || b.NewPassword != "bob-secret" || b.InviteCode != "inv-1" || b.NewEmail != "bob@new.example" ||
		b.RotationKeyFile != filepath.Join(dir, "keys/bob.key") {
		t.Errorf("bob: %+v", b)
	}
	if c.OldPassword != "inline-pw" || d.Account != "dave.example.com" || d.OldPassword != "" {
		t.Errorf("carol/dave: %+v %+v", c, d)
	}
	if af.InlineSecrets != 1 {
		t.Errorf("InlineSecrets = %d, want 1 (carol)", af.InlineSecrets)
	}
}

func TestParseAccountsJSONLines(t *testing.T) {
	in := `  {"account": "alice.example.com", "old_password": "env:PW"}

{"account": "did:plc:bob", "old_password": "pw2", "new_password": "pw3", "invite_code": null}
`
	af, err := ParseAccounts(strings.NewReader(in), "", env(map[string]string{"PW": "s1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(af.Accounts) != 2 || af.Accounts[0].OldPassword != "s1" || af.Accounts[1].NewPassword != "pw3" || af.Accounts[1].Line != 3 {
		t.Fatalf("%+v", af.Accounts)
	}
	if af.InlineSecrets != 1 {
		t.Errorf("InlineSecrets = %d, want 1 (one row with two inline passwords)", af.InlineSecrets)
	}
}

func TestParseAccountsErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "  \n", "empty"},
		{"no account column", "old_password,new_handle\npw,h\n", "no account column"},
		{"unknown column", "account,pasword\na,b\n", `unknown column "pasword"`},
		{"empty account", "account,old_password\n,pw\n", "line 2: the account column is empty"},
		{"unset env", "account,old_password\na.example,env:NOPE\n", "NOPE is not set"},
		{"missing file", "account,old_password\na.example,file:/nonexistent/pw\n", "old_password"},
		{"a device, not a file", "account,old_password\na.example,file:/dev/zero\n", "the file /dev/zero is larger than expected: more than 65536 bytes for a password or token"},
		{"duplicate", "account\na.example\nA.example\n", "already on line 2"},
		{"header only", "account\n", "no accounts"},
		{"json unknown field", `{"account":"a","pasword":"x"}`, `unknown field "pasword"`},
		{"json not string", `{"account":"a","old_password":5}`, "must be a string"},
		{"json bad line", "{\"account\":\"a\"}\nnot json\n", "line 2"},
		{"too many fields", "account\na,b\n", "2 fields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAccounts(strings.NewReader(c.in), "", env(nil))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestReadAccountsFileSecretsNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "accounts.csv")
	os.WriteFile(p, []byte("account,old_password,bogus\na,hunter2,x\n"), 0o600)
	_, err := ReadAccountsFile(p)
	var ie *failure.InputError
	if err == nil || !strings.Contains(err.Error(), "bogus") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
	if !errorsAs(err, &ie) {
		t.Errorf("a bad accounts file must be an failure.InputError: %T", err)
	}
}

func errorsAs(err error, ie **failure.InputError) bool {
	e, ok := err.(*failure.InputError)
	if ok {
		*ie = e
	}
	return ok
}

func TestParseTokens(t *testing.T) {
	got, err := ParseTokens(strings.NewReader("account,token\nAlice.example.com, ABCDE-12345\n\ndid:plc:bob,XYZ\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["alice.example.com"] != "ABCDE-12345" || got["did:plc:bob"] != "XYZ" || len(got) != 2 {
		t.Errorf("%v", got)
	}
	if _, err := ParseTokens(strings.NewReader("a,b,c\n")); err == nil {
		t.Error("three fields accepted")
	}
}

func TestBatchReportFiles(t *testing.T) {
	dir := t.TempDir()
	idx := &Index{NewPDS: "https://new.example", Accounts: []*Entry{
		{Account: "alice.example.com", DID: "did:plc:alice", Status: Migrated, Records: 120, Blobs: 4, Bytes: 2_500_000, Seconds: 3.21, PLCMethod: "rotation-key"},
		{Account: "bob.example.com", DID: "did:plc:bob", Status: FailedPermanent, Stage: stage.Login, Error: "https://old.example refused the password, with \"quotes\", commas", Hint: "check the password"},
		{Account: "carol.example.com", Status: AwaitingToken},
		{Account: "dave.example.com", Status: Pending},
	}}
	if err := WriteReport(dir, idx); err != nil {
		t.Fatal(err)
	}
	var rep Report
	b, _ := os.ReadFile(filepath.Join(dir, ReportJSON))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	want := Summary{Total: 4, Migrated: 1, FailedPermanent: 1, AwaitingToken: 1, Pending: 1, Bytes: 2_500_000}
	if rep.Summary != want || len(rep.Accounts) != 4 || rep.Accounts[1].Error != idx.Accounts[1].Error {
		t.Errorf("report.json: %+v", rep)
	}
	if rep.Summary.Done() != 3 {
		t.Errorf("Done() = %d", rep.Summary.Done())
	}
	f, _ := os.Open(filepath.Join(dir, ReportCSV))
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "account" || rows[2][2] != "failed-permanent" || rows[2][9] != idx.Accounts[1].Error || rows[1][6] != "2500000" {
		t.Errorf("report.csv: %q", rows)
	}
	for _, name := range []string{ReportJSON, ReportCSV} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	var tbl bytes.Buffer
	WriteTable(&tbl, idx.Accounts)
	for _, s := range []string{"ACCOUNT", "alice.example.com", "2.5 MB", "3.2s", "refused the password", "4 accounts: 1 migrated", "1 failed-permanent", "1 awaiting-token"} {
		if !strings.Contains(tbl.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, tbl.String())
		}
	}
}

// TestLoadBatchStatus: an entry left running by a killed batch shows as
// interrupted, and a single-account run that completed shows as migrated.
func TestLoadBatchStatus(t *testing.T) {
	dir := t.TempDir()
	idx := &Index{NewPDS: "https://new.example", Accounts: []*Entry{
		{Account: "a", DID: "did:plc:a", Status: Running},
		{Account: "b", DID: "did:plc:b", Status: AwaitingToken},
	}}
	if err := idx.save(dir); err != nil {
		t.Fatal(err)
	}
	st := &checkpoint.State{DID: "did:plc:b", Completed: true, Repo: checkpoint.RepoInfo{Records: 7, Bytes: 100}, Blobs: checkpoint.BlobsInfo{Total: 2, TotalBytes: 50}}
	if err := st.Save(filepath.Join(dir, "did:plc:b")); err != nil {
		t.Fatal(err)
	}
	got, err := LoadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Accounts[0]; a.Status != Pending || a.Error != "interrupted" {
		t.Errorf("a: %+v", a)
	}
	if b := got.Accounts[1]; b.Status != Migrated || b.Records != 7 || b.Blobs != 2 || b.Bytes != 150 {
		t.Errorf("b: %+v", b)
	}
	// While a batch holds the lock, running means running.
	unlock, held, err := fsutil.TryLock(filepath.Join(dir, lockName))
	if err != nil || held {
		t.Fatal(err, held)
	}
	defer unlock()
	got, _ = LoadStatus(dir)
	if got.Accounts[0].Status != Running {
		t.Errorf("with the lock held: %+v", got.Accounts[0])
	}
	if _, err := Run(context.Background(), Options{StateDir: dir, Base: migrate.Options{NewPDS: "https://new.example", Yes: true}, Accounts: []Account{{Account: "a"}}}); err == nil || !strings.Contains(err.Error(), "another batch") {
		t.Errorf("second batch on a locked dir: %v", err)
	}
}

func TestRunBatchRefusals(t *testing.T) {
	dir := t.TempDir()
	one := []Account{{Account: "a.example"}}
	if _, err := Run(context.Background(), Options{StateDir: dir, Accounts: one, Base: migrate.Options{NewPDS: "https://x"}}); err == nil || !strings.Contains(failure.Hint(err), "{yes}") {
		t.Errorf("without Yes: %v", err)
	}
	idx := &Index{NewPDS: "https://other.example"}
	idx.save(dir)
	if _, err := Run(context.Background(), Options{StateDir: dir, Accounts: one, Base: migrate.Options{NewPDS: "https://x", Yes: true}}); err == nil || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("another batch's dir: %v", err)
	}
}

// TestPacer: a 429 with RateLimit-Reset on one request holds the next
// requests to the same host and method, not others.
func TestPacer(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/limited" && n.Add(1) == 1 {
			w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(1500*time.Millisecond).Unix(), 10))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	p := newPacer(http.DefaultTransport)
	c := &http.Client{Transport: p}
	get := func(path string) (int, time.Duration) {
		start := time.Now()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if code, _ := get("/xrpc/limited"); code != 429 {
		t.Fatalf("first request: %d", code)
	}
	if code, d := get("/xrpc/other"); code != 200 || d > 300*time.Millisecond {
		t.Errorf("another method waited %s", d)
	}
	if code, d := get("/xrpc/limited"); code != 200 || d < 400*time.Millisecond {
		t.Errorf("same method after a 429: %d after %s, want a wait for the reset", code, d)
	}
	if p.holds != 1 {
		t.Errorf("holds = %d", p.holds)
	}
	// A cancelled request stops waiting at once.
	p.until[pacerKey(httptest.NewRequest("GET", srv.URL+"/xrpc/limited", nil))] = time.Now().Add(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/xrpc/limited", nil)
	start := time.Now()
	if _, err := c.Do(req); err == nil || time.Since(start) > time.Second {
		t.Errorf("cancelled wait: %v after %s", err, time.Since(start))
	}
}

// An accounts file with an unclosed quote is refused with its line, not a
// panic (found by FuzzParseAccounts).
func TestParseAccountsUnclosedQuote(t *testing.T) {
	_, err := ParseAccounts(strings.NewReader("account,old_password\n\"unclosed,pw\n"), t.TempDir(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Fatalf("want an error naming the line, got %v", err)
	}
}
