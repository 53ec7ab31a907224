package migrate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/transfer"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// Whole migrations against the fake network, A's account holding a real
// signed repo with blobs: the limits of the new PDS, and the rules that
// decide from protocol facts rather than one implementation's
// bookkeeping.

type fullMove struct {
	*fakeMove
	repo *repotest.Repo
}

// newFullMove is newFakeMove with a real repo of records and blobs on A,
// and a B made with optsB that, like the reference PDS, expects the blobs
// the imported records reference.
func newFullMove(t *testing.T, records, blobs int, optsB fakenet.PDSOptions) *fullMove {
	t.Helper()
	f := &fakeMove{plc: fakenet.NewPLC(t)}
	f.a = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.userKey = fakenet.Key(t)
	sig := fakenet.Key(t)
	f.did = f.a.AddAccount(fakenet.AccountSpec{Handle: "alice.test", Password: fakePassword, Email: "alice@mail.test",
		RecoveryKey: fakenet.DIDKey(t, f.userKey), SigningKey: sig})
	car, r, err := repotest.BuildCAR(records, blobs, sig, f.did)
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]string{}
	for c := range r.Blobs {
		expected[c] = "at://" + f.did + "/app.bsky.feed.post/x"
	}
	f.a.Modify(f.did, func(a *fakenet.Account) {
		a.RepoCAR, a.CommitCID, a.Rev, a.ExpectedBlobs = car, r.CommitCID.String(), r.Rev, expected
		for c, data := range r.Blobs {
			a.Blobs[c] = fakenet.Blob{Data: data, MimeType: "image/jpeg"}
		}
	})
	var b *fakenet.PDS
	optsB.OnImport = func(did string, _ []byte) error {
		b.Modify(did, func(a *fakenet.Account) { a.ExpectedBlobs = expected })
		return nil
	}
	b = fakenet.NewPDS(t, f.plc, optsB)
	f.b = b
	return &fullMove{fakeMove: f, repo: r}
}

// withKey is the move signed with the user's rotation key (no token).
func (f *fullMove) withKey(t *testing.T) Options {
	o := f.opts(t)
	o.RotationKey = f.userKey
	return o
}

// A PDS that re-signs what it imports (cocoon): the new head is another
// commit over the same data, signed by the account's key there. The
// import counts as done: verify-new passes, a paused run resumed does not
// import again, and the final check compares data, not commit CIDs.
func TestFakeResignedImportIsDone(t *testing.T) {
	f := newFullMove(t, 40, 4, fakenet.PDSOptions{ResignImports: true})
	o := f.opts(t)
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("first run: want paused for the token, got %v", err)
	}
	b, _ := f.b.Account(f.did)
	if b.CommitCID == f.repo.CommitCID.String() {
		t.Fatal("the fake did not re-sign the import: the test proves nothing")
	}
	o.PLCToken = f.a.PLCToken(f.did)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if b, _ := f.b.Account(f.did); b.Imports != 1 || b.Writes != 0 {
		t.Errorf("imported %d times, want 1; %d commits made after, want none: the import was signed by the new PDS", b.Imports, b.Writes)
	}
	if note := res.State.Stages[stage.SignCommit].Note; !strings.Contains(note, "is signed by the DID's key") {
		t.Errorf("sign-commit note %q does not say the commit was already signed", note)
	}
	if note := res.State.Stages[stage.VerifyNew].Note; !strings.Contains(note, "re-signed by the new PDS") {
		t.Errorf("verify-new note %q does not say the import was re-signed", note)
	}
}

// A blob over the new PDS's reported limit stops the run before the
// account is created, naming it; --skip-oversized-blobs moves without it
// and records it, and the final check says so.
func TestFakeBlobOverLimit(t *testing.T) {
	f := newFullMove(t, 30, 6, fakenet.PDSOptions{BlobUploadLimit: 2048})
	var over []string
	for c, data := range f.repo.Blobs {
		if len(data) > 2048 {
			over = append(over, c)
		}
	}
	if len(over) == 0 {
		t.Fatal("no blob over the limit: the test proves nothing")
	}
	_, err := Run(context.Background(), f.withKey(t))
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), over[0]) || !strings.Contains(failure.Hint(err), "{skip-oversized-blobs}") {
		t.Fatalf("want bad input naming %s, got %v (hint %q)", over[0], err, failure.Hint(err))
	}
	if _, ok := f.b.Account(f.did); ok {
		t.Fatal("the account was created on the new PDS before the refusal")
	}

	o := f.withKey(t)
	o.SkipOversizedBlobs = true
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("with {skip-oversized-blobs}: %v", err)
	}
	if got := len(res.State.Blobs.LeftBehind); got != len(over) {
		t.Errorf("%d blobs left behind, want %d", got, len(over))
	}
	if note := res.State.Stages[stage.FinalCheck].Note; !strings.Contains(note, "left behind at your request") {
		t.Errorf("final-check note %q does not name the blobs left behind", note)
	}
}

// A new PDS that does not report its limit (PDS 0.4.x) but refuses an
// upload as too large: bad input naming the blob, never "run again".
func TestFakeUploadRefusedAsTooLarge(t *testing.T) {
	f := newFullMove(t, 10, 2, fakenet.PDSOptions{})
	f.b.Fail("com.atproto.repo.uploadBlob", 1, 413, "PayloadTooLarge", "request entity too large")
	_, err := Run(context.Background(), f.withKey(t))
	var ie *failure.InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "could never be uploaded") {
		t.Fatalf("want bad input about a blob too large, got %v", err)
	}
	if strings.Contains(failure.Hint(err), "run the same command again") {
		t.Errorf("hint %q promises that running again helps", failure.Hint(err))
	}
}

// A 429 whose reset is a day away stops the uploads at once, resumable,
// with the reset time and what is left; the next run finishes.
func TestFakeUploadRateLimit(t *testing.T) {
	f := newFullMove(t, 20, 8, fakenet.PDSOptions{})
	reset := time.Now().Add(24 * time.Hour)
	f.b.FailWith("com.atproto.repo.uploadBlob", 100, &fakenet.XRPCError{Status: 429, Name: "RateLimitExceeded", Message: "Rate Limit Exceeded",
		Header: map[string]string{"RateLimit-Reset": strconvUnix(reset)}})
	o := f.withKey(t)
	_, err := Run(context.Background(), o)
	var rl *failure.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("want a RateLimitError, got %v", err)
	}
	if rl.Left != 8 || rl.Reset.Sub(reset).Abs() > 2*time.Second || !rl.NewPDS {
		t.Errorf("rate limit %+v: want 8 left, reset %s, on the new PDS", rl, reset)
	}
	if !strings.Contains(rl.Hint(), "{ratelimit-bypass-key}") || !strings.Contains(rl.Error(), "8 blob uploads left") {
		t.Errorf("message %q / hint %q", rl.Error(), rl.Hint())
	}
	if n := f.b.Calls("com.atproto.repo.uploadBlob"); n > o.Concurrency+int(transfer.DefaultConcurrency) {
		t.Errorf("%d upload attempts after the first long 429: the workers did not stop", n)
	}
	f.b.ClearFailures("com.atproto.repo.uploadBlob")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
}

// The existence probe answering 500 (another implementation's answer for
// a DID it does not host) says nothing either way: the run goes on and
// createAccount settles it.
func TestFakeExistenceProbe500(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{UnknownRepo500: true})
	if _, err := Run(context.Background(), f.withKey(t)); err != nil {
		t.Fatalf("want the move to go through, got %v", err)
	}
	if n := f.b.Calls("com.atproto.sync.getRepoStatus"); n == 0 {
		t.Fatal("getRepoStatus never asked: the test proves nothing")
	}
}

// A run that finds the blobs on the new PDS without having seen them
// confirmed (a fresh state dir) fetches them back, and uploads again the
// one the new PDS lists as present but serves wrong.
func TestFakeFetchBackUnconfirmed(t *testing.T) {
	f := newFullMove(t, 20, 5, fakenet.PDSOptions{})
	o := f.opts(t)
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("first run: want paused for the token, got %v", err)
	}
	var victim string
	for c := range f.repo.Blobs {
		victim = c
		break
	}
	f.b.Modify(f.did, func(a *fakenet.Account) {
		b := a.Blobs[victim]
		b.Data = append([]byte(nil), b.Data...)
		b.Data[0] ^= 0xff
		a.Blobs[victim] = b
	})
	uploads := f.b.Calls("com.atproto.repo.uploadBlob")
	o.StateDir = t.TempDir() // the confirmations are gone with the state
	o.PLCToken = f.a.PLCToken(f.did)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := f.b.Calls("com.atproto.repo.uploadBlob") - uploads; n != 1 {
		t.Errorf("%d uploads in the second run, want 1 (the blob served wrong)", n)
	}
	b, _ := f.b.Account(f.did)
	if _, err := repo.CheckCID(victim, strings.NewReader(string(b.Blobs[victim].Data))); err != nil {
		t.Errorf("the damaged blob is still damaged on the new PDS: %v", err)
	}
}

// An account that reads as active before the switch (some PDSes create a
// migrated account active) is still activated after it.
func TestFakeActivateAlreadyActive(t *testing.T) {
	f := newFullMove(t, 10, 1, fakenet.PDSOptions{})
	o := f.withKey(t)
	o.Progress = stageStartProgress{fn: func(s stage.Stage) {
		if s == stage.ImportRepo {
			f.b.SetActive(f.did, true)
		}
	}}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.b.Calls("com.atproto.server.activateAccount"); n != 1 {
		t.Errorf("activateAccount called %d times, want 1", n)
	}
	if note := res.State.Stages[stage.Activate].Note; !strings.Contains(note, "it already was") {
		t.Errorf("activate note %q", note)
	}
}

func strconvUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// progressFunc calls fn at the start of every stage.
type progressFunc func(stage.Stage)

type stageStartProgress struct {
	ui.NopProgress
	fn progressFunc
}

func (p stageStartProgress) StageStart(s stage.Stage) { p.fn(s) }
