package migrate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/migrate/ui/uitest"
)

// Helpers of the stage-level tests, which drive the
// exported API (Run, DryRun, Export, ...) against the fake network
// and check what a user would see: the outcome, the exit class of the
// error, the state left behind and what reached the servers.

// wantInput asserts a bad-input error (exit 2) whose message contains
// each of want, and returns it.
func wantInput(t *testing.T, err error, want ...string) *failure.InputError {
	t.Helper()
	var ie *failure.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want bad input (exit 2) containing %q, got %T %v", want, err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("bad input %q does not say %q", err, w)
		}
	}
	return ie
}

// wantStage asserts a resumable error (exit 1) of stage s whose message
// contains each of want, and that it is not bad input.
func wantStage(t *testing.T, err error, s stage.Stage, want ...string) *failure.StageError {
	t.Helper()
	var se *failure.StageError
	var ie *failure.InputError
	if !errors.As(err, &se) || errors.As(err, &ie) {
		t.Fatalf("want a resumable %s error (exit 1) containing %q, got %T %v", s, want, err, err)
	}
	if se.Stage != s {
		t.Fatalf("error in stage %s, want %s: %v", se.Stage, s, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	return se
}

// wantHint asserts that err's hint contains want.
func wantHint(t *testing.T, err error, want string) {
	t.Helper()
	if h := failure.Hint(err); !strings.Contains(h, want) {
		t.Fatalf("hint %q of %v does not say %q", h, err, want)
	}
}

// logProgress records the messages and stage notes a run reports, and
// calls onStart (when set) at the start of each stage and onTransfer at
// the start of each transfer, from the run's goroutine: a test changes the
// servers there, between two steps.
type logProgress struct {
	uitest.Messages
	onStart    func(stage.Stage)
	onTransfer func(ui.TransferKind)

	mu    sync.Mutex
	notes map[stage.Stage]string
	skips map[stage.Stage]string
}

func (p *logProgress) StageStart(s stage.Stage) {
	if p.onStart != nil {
		p.onStart(s)
	}
}

func (p *logProgress) StageDone(s stage.Stage, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.notes == nil {
		p.notes = map[stage.Stage]string{}
	}
	p.notes[s] = note
}

func (p *logProgress) StageSkip(s stage.Stage, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.skips == nil {
		p.skips = map[stage.Stage]string{}
	}
	p.skips[s] = reason
}

func (p *logProgress) Transfer(kind ui.TransferKind, _ int, _ int64) {
	if p.onTransfer != nil {
		p.onTransfer(kind)
	}
}

// said reports whether an info (or, with warn, a warning) contains s.
func (p *logProgress) said(s string, warn bool) bool {
	if warn {
		return p.Warned(s)
	}
	return p.Said(s)
}

// note is the note of a stage that ran.
func (p *logProgress) note(s stage.Stage) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notes[s]
}

// atStart is a Progress that calls fn when stage s starts.
func atStart(s stage.Stage, fn func()) *logProgress {
	return &logProgress{onStart: func(got stage.Stage) {
		if got == s {
			fn()
		}
	}}
}

// scriptedUI answers the questions a run asks: token is called for the PLC
// token, confirm (nil: yes) for each confirmation, whose details it keeps.
type scriptedUI struct {
	token   func() string
	confirm func(question string) bool

	mu      sync.Mutex
	details []string
}

func (u *scriptedUI) PLCToken(string) (string, error) {
	if u.token == nil {
		return "", ui.ErrNoTerminal
	}
	return u.token(), nil
}

func (u *scriptedUI) Confirm(question, details string) (bool, error) {
	u.mu.Lock()
	u.details = append(u.details, details)
	u.mu.Unlock()
	if u.confirm == nil {
		return true, nil
	}
	return u.confirm(question), nil
}

// paused runs o once and asserts it stops for the email token: the data is
// on the new PDS and the old PDS has sent a token.
func paused(t *testing.T, f *fakeMove, o Options) {
	t.Helper()
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("first run: want paused for the email token (exit 3), got %v", err)
	}
	if f.a.PLCToken(f.did) == "" {
		t.Fatal("the old PDS sent no token")
	}
}

// withToken runs o again with the token the old PDS emailed, recording
// its progress, and asserts that it finishes the move.
func withToken(t *testing.T, f *fakeMove, o Options) (*Result, *logProgress) {
	t.Helper()
	o.PLCToken = f.a.PLCToken(f.did)
	prog := &logProgress{}
	o.Progress = prog
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("the run with the token: %v", err)
	}
	finished(t, f)
	return res, prog
}

// finished asserts the move is complete: the DID points at B, B's account
// is active and A's deactivated.
func finished(t *testing.T, f *fakeMove) {
	t.Helper()
	wantHome(t, f, f.b, f.a)
}

// untouched asserts that nothing irreversible happened: the DID still
// points at A, whose account is active.
func untouched(t *testing.T, f *fakeMove) {
	t.Helper()
	wantHome(t, f, f.a, nil)
}

// wantHome asserts that the DID points at home, whose account is active,
// and, when other is set, that the account there is deactivated.
func wantHome(t *testing.T, f *fakeMove, home, other *fakenet.PDS) {
	t.Helper()
	if ep := endpointNow(t, f); ep != home.PublicURL() {
		t.Fatalf("the DID points at %s, want %s", ep, home.PublicURL())
	}
	if !active(t, home, f.did) {
		t.Fatalf("the account on %s is not active", home.URL)
	}
	if other != nil && active(t, other, f.did) {
		t.Fatalf("the account on %s is still active", other.URL)
	}
}

// failsThenResumes makes nsid on p answer 5xx for the whole of one run of
// o, asserts that the run stops resumable (exit 1) in stage s, its error
// saying want and its hint hint, and calls check on what it left; then it
// lifts the failure and asserts that the same command finishes the move.
func failsThenResumes(t *testing.T, f *fakeMove, o Options, p *fakenet.PDS, nsid string, s stage.Stage, want, hint string, check func(*Result)) *Result {
	t.Helper()
	p.Fail(nsid, 100, 503, "ServiceUnavailable", "down for maintenance")
	res, err := Run(context.Background(), o)
	wantStage(t, err, s, want)
	wantHint(t, err, hint)
	check(res)
	p.ClearFailures(nsid)
	res, err = Run(context.Background(), o)
	if err != nil {
		t.Fatalf("the run after the outage: %v", err)
	}
	finished(t, f)
	return res
}

// noAccountOn asserts that p holds no account for the DID.
func noAccountOn(t *testing.T, p *fakenet.PDS, did string) {
	t.Helper()
	if _, ok := p.Account(did); ok {
		t.Fatalf("%s holds an account for %s", p.URL, did)
	}
}
