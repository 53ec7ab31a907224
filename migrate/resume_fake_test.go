package migrate

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Stage-level tests of the resume decisions against the in-memory fake
// PDS and PLC directory: no Node, a few milliseconds each. The same cases
// run end to end against the real servers in e2e/resume_cases_test.go.

type fakeMove struct {
	plc     *fakenet.PLC
	a, b    *fakenet.PDS
	did     string
	userKey atcrypto.PrivateKey
}

const fakePassword = "correct horse"

// newFakeMove is an account alice.test on A whose DID lists the user's own
// rotation key first.
func newFakeMove(t *testing.T) *fakeMove {
	t.Helper()
	f := &fakeMove{plc: fakenet.NewPLC(t)}
	f.a = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.b = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	f.userKey = k
	f.did = f.a.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: fakePassword, Email: "alice@mail.test",
		RecoveryKey: fakenet.DIDKey(t, k), AppPasswords: []fakenet.AppPassword{{Name: "app", Password: "abcd-efgh-ijkl-mnop"}}})
	return f
}

// switchToB is what a run killed right after its PLC operation leaves:
// an inactive account on B, and the DID pointing at B with B's keys.
func (f *fakeMove) switchToB(t *testing.T) {
	t.Helper()
	old, _ := f.a.Account(f.did)
	f.b.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "alice.test", Password: fakePassword, Email: "alice@mail.test", Deactivated: true,
		CommitCID: old.CommitCID, Rev: old.Rev, Blocks: old.Blocks})
	signing, err := f.b.SigningKeyFor(f.did).PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	f.plc.Update(f.did, f.userKey, func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: f.b.PublicURL()}
		op.VerificationMethods["atproto"] = signing.DIDKey()
		op.RotationKeys = []string{fakenet.DIDKey(t, f.userKey), f.b.RotationKey()}
	})
}

func (f *fakeMove) opts(t *testing.T) Options {
	return Options{
		Account: f.did, OldPassword: fakePassword, NewPDS: f.b.URL, PLCURL: f.plc.URL,
		StateDir: t.TempDir(), Yes: true,
		Retry: &pds.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: time.Second},
	}
}

func active(t *testing.T, p *fakenet.PDS, did string) bool {
	t.Helper()
	a, ok := p.Account(did)
	if !ok {
		t.Fatalf("%s has no account %s", p.URL, did)
	}
	return a.Active()
}

func endpointNow(t *testing.T, f *fakeMove) string {
	t.Helper()
	op, err := f.plc.Data(f.did)
	if err != nil {
		t.Fatal(err)
	}
	return op.Services["atproto_pds"].Endpoint
}

func TestResumeOldPDSDownAfterSwitch(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	f.a.Down()
	o := f.opts(t)
	_, err := Run(context.Background(), o)
	var se *failure.StageError
	if !errors.As(err, &se) || se.Stage != stage.DeactivateOld || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("want a pending deactivate-old (exit 1), got %v", err)
	}
	if !strings.Contains(failure.Hint(err), "{no-deactivate-old}") {
		t.Errorf("hint %q does not offer {no-deactivate-old}", failure.Hint(err))
	}
	if !active(t, f.b, f.did) {
		t.Errorf("the new account was not activated although the DID points at it")
	}
	if n := f.a.Calls("com.atproto.server.createSession"); n != 0 {
		t.Errorf("%d logins to the old PDS, which is not needed any more", n)
	}
	o.NoDeactivateOld = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("with {no-deactivate-old}: %v", err)
	}
}

func TestResumeRotationKeyReplacedByTheSwitch(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	o := f.opts(t)
	o.RotationKey = f.a.RotationPrivateKey() // the admin's key, dropped by the switch
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("a run after the switch must finish without the replaced key: %v", err)
	}
	if !active(t, f.b, f.did) || active(t, f.a, f.did) {
		t.Errorf("want B active and A deactivated")
	}
	if n := f.b.Calls("com.atproto.server.createAccount") + f.b.Calls("com.atproto.repo.importRepo"); n != 0 {
		t.Errorf("%d data calls on B after the switch", n)
	}
	// Done: the same command changes nothing.
	o2 := o
	if _, err := Run(context.Background(), o2); !errors.Is(err, failure.ErrAlreadyMigrated) {
		t.Fatalf("the run after success: %v", err)
	}
}

func TestResumeByHandleAfterMove(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	o := f.opts(t)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// The old PDS no longer resolves the deactivated account's handle; the
	// new PDS does, and the DID document claims it back.
	o.Account, o.OldPDS = "alice.test", f.a.URL
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrAlreadyMigrated) {
		t.Fatalf("by handle after the move: %v", err)
	}
}

func TestResumeRefusesTheSameServer(t *testing.T) {
	f := newFakeMove(t)
	target, _ := url.Parse(f.a.URL)
	alias := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(alias.Close)
	for _, oldPDS := range []string{"", f.a.URL} {
		o := f.opts(t)
		o.NewPDS, o.OldPDS = alias.URL, oldPDS
		_, err := Run(context.Background(), o)
		var ie *failure.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "already lives on") {
			t.Fatalf("{old-pds} %q: want bad input naming the server, got %v", oldPDS, err)
		}
	}
	if !active(t, f.a, f.did) {
		t.Fatalf("the only account was deactivated")
	}
	for _, nsid := range []string{"com.atproto.server.createSession", "com.atproto.server.createAccount", "com.atproto.server.deactivateAccount", "com.atproto.server.activateAccount"} {
		if n := f.a.Calls(nsid); n != 0 {
			t.Errorf("%d %s calls", n, nsid)
		}
	}
}

func TestResumeRefusesAnAppPassword(t *testing.T) {
	f := newFakeMove(t)
	o := f.opts(t)
	o.OldPassword = "abcd-efgh-ijkl-mnop"
	_, err := Run(context.Background(), o)
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "app password") {
		t.Fatalf("want bad input about the app password, got %v", err)
	}
	if n := f.b.Calls("com.atproto.server.createAccount"); n != 0 {
		t.Errorf("%d createAccount calls on B", n)
	}
}

func TestResumeSecondRunIsRefusedWhileTheFirstRuns(t *testing.T) {
	f := newFakeMove(t)
	o := f.opts(t)
	unlock, err := checkpoint.Lock(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Run(context.Background(), o)
	var be *checkpoint.BusyError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("want a busy error naming the pid, got %v", err)
	}
	if n := f.a.Calls("com.atproto.server.createSession") + f.b.Calls("com.atproto.server.describeServer"); n != 0 {
		t.Errorf("the refused run made %d calls", n)
	}
}

func TestResumeMistypedNewPDSDoesNotPinTheStateDir(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	o := f.opts(t)
	o.OldPDS = f.a.URL
	typo := o
	typo.NewPDS = "http://127.0.0.1:1"
	_, err := Run(context.Background(), typo)
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "does not answer as a PDS") {
		t.Fatalf("typo: want bad input, got %v", err)
	}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("the corrected command was refused: %v", err)
	}
	if endpointNow(t, f) != f.b.PublicURL() || !active(t, f.b, f.did) {
		t.Errorf("not finished on B")
	}
}

func TestResumeUnwritableStateDir(t *testing.T) {
	f := newFakeMove(t)
	o := f.opts(t)
	file := o.StateDir + "/file"
	if err := writeTestFile(file); err != nil {
		t.Fatal(err)
	}
	o.StateDir = file + "/state"
	_, err := Run(context.Background(), o)
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "state dir") {
		t.Fatalf("want bad input about the state dir, got %v", err)
	}
	if strings.Contains(failure.Hint(err), "run the same command again") {
		t.Errorf("hint %q promises a re-run", failure.Hint(err))
	}
	if n := f.a.Calls("com.atproto.server.describeServer") + f.b.Calls("com.atproto.server.describeServer"); n != 0 {
		t.Errorf("%d server calls before the state dir was checked", n)
	}
}

func writeTestFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }

// A finished move checked from a new machine (a fresh state dir, no
// --old-pds): the audit log names the old PDS, whose account is already
// deactivated, so there is nothing left but the idempotent activation and
// the check: the old PDS is not even logged in to.
func TestResumeFinishedMoveOnANewMachine(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	f.b.SetActive(f.did, true)
	f.a.SetActive(f.did, false)
	if _, err := Run(context.Background(), f.opts(t)); err != nil {
		t.Fatalf("want the check to pass, got %v", err)
	}
	if n := f.a.Calls("com.atproto.server.createSession") + f.a.Calls("com.atproto.server.deactivateAccount"); n != 0 {
		t.Errorf("%d calls to the old PDS that change something", n)
	}
	if n := f.b.Calls("com.atproto.server.activateAccount"); n != 1 {
		t.Errorf("activateAccount called %d times, want once (it is idempotent and announces the account)", n)
	}
}

// The same, but the old account is still active there: the log alone is
// not enough to deactivate it.
func TestResumeLogAloneNeverDeactivates(t *testing.T) {
	f := newFakeMove(t)
	f.switchToB(t)
	f.b.SetActive(f.did, true)
	_, err := Run(context.Background(), f.opts(t))
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(failure.Hint(err), "{old-pds}") {
		t.Fatalf("want bad input asking for {old-pds}, got %v", err)
	}
	if !active(t, f.a, f.did) {
		t.Errorf("the old account was deactivated on the audit log's word")
	}
}
