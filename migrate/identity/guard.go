package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// After the switch, the DID is guarded for 72 hours: `watch` compares the
// audit log and both accounts with what the migration left, and `plc
// recover` nullifies what came after. This file is both cores; the CLI
// prints and loops.

// WatchOptions says what to compare the DID with.
type WatchOptions struct {
	DID    string
	PLCURL string
	// Keep is the operation everything is compared with: the migration's own.
	Keep string
	// NewPDS and OldPDS are checked with getRepoStatus ("" skips one).
	// OldMustBeInactive is set when the migration deactivated the old account.
	NewPDS, OldPDS    string
	OldMustBeInactive bool
	HTTPClient        *http.Client
	Now               time.Time // zero: time.Now()
}

// WatchOptionsFromState is what a finished migration in st left to watch.
func WatchOptionsFromState(st *checkpoint.State) (WatchOptions, error) {
	if st.PLC.OpCID == "" || !st.Done(stage.Identity) {
		return WatchOptions{}, failure.Input(nil, "run `atmigrate watch` once the migration has switched the DID",
			"the migration in this state dir has not submitted its PLC operation")
	}
	if !strings.HasPrefix(st.DID, "did:plc:") {
		return WatchOptions{}, failure.Input(nil, "a did:web is changed on its own web server, not through the PLC directory", "%s is not a did:plc", st.DID)
	}
	note := ""
	if ss := st.Stages[stage.DeactivateOld]; ss != nil && ss.Done {
		note = ss.Note
	}
	return WatchOptions{
		DID: st.DID, PLCURL: st.PLCURL, Keep: st.PLC.OpCID, NewPDS: st.NewPDS, OldPDS: st.OldPDS,
		OldMustBeInactive: strings.HasPrefix(note, "deactivated") || strings.HasPrefix(note, "already"),
	}, nil
}

// AccountCheck is one account's getRepoStatus.
type AccountCheck struct {
	URL    string `json:"url"`
	Known  bool   `json:"known"` // false: the PDS did not answer (Error says why)
	Active bool   `json:"active"`
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// WatchReport is one check.
type WatchReport struct {
	DID     string    `json:"did"`
	Checked time.Time `json:"checked"`
	// Ours is the migration's operation, Unchanged the operations after it
	// that changed nothing (a recovery), Kept the last of those (or Ours),
	// and Later the live operations after Kept.
	Ours         OpReport   `json:"ours"`
	Unchanged    []OpReport `json:"unchanged,omitempty"`
	Kept         OpReport   `json:"kept"`
	Later        []OpReport `json:"later"`
	RotationKeys []string   `json:"rotationKeys"`
	// Allowed can nullify Later until WindowEnds.
	Allowed    []string      `json:"allowed"`
	WindowEnds time.Time     `json:"windowEnds,omitzero"`
	New        *AccountCheck `json:"new,omitempty"`
	Old        *AccountCheck `json:"old,omitempty"`
	// Problems are the changes in words, one each; none means nothing
	// changed. AccountProblems are those about the accounts.
	Problems        []string `json:"problems"`
	AccountProblems []string `json:"accountProblems"`

	Review *plc.Review `json:"-"`
}

// OpReport is one operation, for people and scripts.
type OpReport struct {
	CID         string        `json:"cid"`
	CreatedAt   time.Time     `json:"createdAt"`
	Signer      string        `json:"signer,omitempty"`
	SignerIndex int           `json:"signerIndex"`
	Overriders  []string      `json:"overriders"`
	Changes     []string      `json:"changes,omitempty"`
	WindowEnds  time.Time     `json:"windowEnds"`
	Left        time.Duration `json:"-"`
	LeftSeconds int64         `json:"leftSeconds"`
}

func opReport(s plc.Signed, now time.Time) OpReport {
	return OpReport{CID: s.CID, CreatedAt: s.CreatedAt, Signer: s.Signer, SignerIndex: s.SignerIndex,
		Overriders: orEmpty(s.Overriders), Changes: s.Changes, WindowEnds: s.WindowEnds, Left: s.Left(now), LeftSeconds: int64(s.Left(now) / time.Second)}
}

// Changed reports whether anything differs from what the migration left.
func (r *WatchReport) Changed() bool { return len(r.Problems) > 0 }

// Watch checks the DID once: its audit log after o.Keep, and the two
// accounts. An error means it could not tell (the directory did not
// answer, or the log does not verify).
func Watch(ctx context.Context, o WatchOptions) (*WatchReport, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	// A check the CLI repeats on its own schedule: like the account checks
	// below it answers within seconds (the probe policy), so that --once
	// says soon that a directory is down instead of retrying for 15 s.
	log, err := servers.NewPLCClient(o.PLCURL, o.HTTPClient, &servers.ProbePolicy, nil).AuditLog(ctx, o.DID)
	if err != nil {
		return nil, err
	}
	rv, err := plc.NewReview(o.DID, log, o.Keep, now)
	if err != nil {
		return nil, err
	}
	rep := &WatchReport{DID: o.DID, Checked: now.UTC(), Ours: opReport(rv.Asked, now), Kept: opReport(rv.Kept, now),
		Allowed: orEmpty(rv.Allowed), WindowEnds: rv.WindowEnds(), Later: []OpReport{}, AccountProblems: []string{}, Review: rv}
	if rv.Kept.Doc != nil {
		rep.RotationKeys = slices.Clone(rv.Kept.Doc.RotationKeys)
	}
	for _, s := range rv.Unchanged {
		rep.Unchanged = append(rep.Unchanged, opReport(s, now))
	}
	for _, s := range rv.Later {
		rep.Later = append(rep.Later, opReport(s, now))
		rep.Problems = append(rep.Problems, fmt.Sprintf("operation %s changed the DID: %s", s.CID, strings.Join(s.Changes, "; ")))
	}
	if o.NewPDS != "" {
		rep.New = accountCheck(ctx, o.NewPDS, o.DID, o.HTTPClient)
		if rep.New.Known && !rep.New.Active {
			rep.AccountProblems = append(rep.AccountProblems, fmt.Sprintf("the account on the new PDS %s is not active (%s)", o.NewPDS, cmp.Or(rep.New.Status, "inactive")))
		}
	}
	if o.OldPDS != "" {
		rep.Old = accountCheck(ctx, o.OldPDS, o.DID, o.HTTPClient)
		if o.OldMustBeInactive && rep.Old.Known && rep.Old.Active {
			rep.AccountProblems = append(rep.AccountProblems, fmt.Sprintf("the account on the old PDS %s is active again", o.OldPDS))
		}
	}
	rep.Problems = append(orEmpty(rep.Problems), rep.AccountProblems...)
	return rep, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// accountCheck asks url for did's repo status. RepoNotFound is an answer
// (not active); no answer at all is not.
func accountCheck(ctx context.Context, url, did string, hc *http.Client) *AccountCheck {
	c := &AccountCheck{URL: url}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	once := pds.RetryPolicy{MaxAttempts: 1} // the next check is the retry
	rs, err := servers.New(hc, &once, nil, nil).PDS(url, nil).GetRepoStatus(ctx, did)
	switch {
	case err == nil:
		c.Known, c.Active, c.Status = true, rs.Active, rs.Status
		if c.Status == "" && c.Active {
			c.Status = "active"
		}
	case pds.IsRepoNotFound(err):
		c.Known, c.Status = true, "not found"
	default:
		c.Error = err.Error()
	}
	return c
}

// RecoverOptions asks for every operation after Keep to be nullified.
type RecoverOptions struct {
	DID    string
	PLCURL string
	Keep   string
	Key    atcrypto.PrivateKey
	Yes    bool
	UI     ui.Prompter
	// Progress is told the diff when Yes skips the question.
	Progress ui.Progress
	// HTTPClient and Now are for tests.
	HTTPClient *http.Client
	Now        time.Time
}

// RecoverResult says what was undone.
type RecoverResult struct {
	DID string
	// Review is the history before the recovery.
	Review *plc.Review
	// OpCID is the nullifying operation ("" when there was nothing to undo).
	OpCID string
	// Nullified are the operations the directory now marks nullified.
	Nullified []string
	Endpoint  string
}

// Recover builds the nullifying operation (prev = Keep, Keep's document,
// signed by Key), checks that Key may override every operation after Keep
// while the window is open, shows the diff, asks, submits it to the PLC
// directory and confirms from the audit log that the later operations are
// nullified. With nothing after Keep it does nothing and says so.
func Recover(ctx context.Context, o RecoverOptions) (*RecoverResult, error) {
	if o.UI == nil {
		o.UI = ui.NoPrompter{}
	}
	o.Progress = ui.OrNop(o.Progress)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	client := servers.NewPLCClient(o.PLCURL, o.HTTPClient, nil, o.Progress)
	log, err := client.AuditLog(ctx, o.DID)
	if err != nil {
		return nil, fmt.Errorf("read the PLC audit log: %w", err)
	}
	rv, err := plc.NewReview(o.DID, log, o.Keep, now)
	if errors.Is(err, plc.ErrOpNotInLog) || errors.Is(err, plc.ErrOpNullified) {
		return nil, failure.Input(err, "`atmigrate plc log {account} "+o.DID+"` lists the operations; pass one with {to}", "cannot go back to %s", o.Keep)
	}
	if err != nil {
		return nil, err
	}
	res := &RecoverResult{DID: o.DID, Review: rv, Endpoint: rv.Head().Doc.Services["atproto_pds"].Endpoint}
	op, err := rv.BuildNullify(o.Key)
	switch {
	case errors.Is(err, plc.ErrNothingToUndo):
		return res, nil
	case errors.Is(err, plc.ErrNotRotationKey), errors.Is(err, plc.ErrKeyNotHighEnough):
		return nil, failure.Input(err, "sign with a rotation key listed above the one that signed the operation (yours, if it is first)", "this key cannot undo the operations after %s", rv.Kept.CID)
	case errors.Is(err, plc.ErrWindowClosed):
		return nil, failure.Input(err, "the operations after it can no longer be nullified; a new operation signed by a current rotation key can still change the DID", "too late to undo")
	case err != nil:
		return nil, err
	}
	diff := "DID document, as it is and as it will be:\n" + plc.DiffDoc(rv.Head().Doc, op)
	if o.Yes {
		for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
			o.Progress.Info(l)
		}
	}
	res.OpCID = plc.OpCID(op)
	// BuildNullify checked the operation against the review of the log.
	sub := Submitter{PLC: client, UI: o.UI, Progress: o.Progress, Yes: o.Yes}
	st, err := sub.Submit(ctx, Submission{DID: o.DID, Op: op, Want: op,
		Ask: ui.Confirmation{Question: fmt.Sprintf("Nullify %d operation(s) after %s and put the DID back as it was?", len(rv.Later), rv.Kept.CID),
			Details: diff, What: "the recovery", IfNo: "nothing was changed"},
	})
	if err != nil {
		return nil, err
	}
	return res, confirmNullified(st, res)
}

// confirmNullified checks, in the log that shows the nullifying operation
// as the head, that every later operation is marked nullified.
func confirmNullified(st *plc.State, res *RecoverResult) error {
	res.Nullified = res.Nullified[:0]
	for _, e := range st.Log {
		for _, l := range res.Review.Later {
			if e.CID == l.CID && e.Nullified {
				res.Nullified = append(res.Nullified, e.CID)
			}
		}
	}
	res.Endpoint = st.Endpoint()
	if len(res.Nullified) != len(res.Review.Later) {
		return fmt.Errorf("the PLC directory shows operation %s, but only %d of the %d operations after %s nullified; check `atmigrate plc log`",
			res.OpCID, len(res.Nullified), len(res.Review.Later), res.Review.Kept.CID)
	}
	return nil
}
