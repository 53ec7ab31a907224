package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// Step points the DID at the new PDS: a migration's identity stage. It is
// the one step that must happen exactly once, so it starts from the PLC
// directory's audit log, not from the checkpoint: an operation recorded as
// about to be submitted is looked up there before anything is sent again.
type Step struct {
	DID string
	// New is the new PDS, logged in: it recommends what the document must
	// name, and relays the signed operation to the directory.
	New *pds.Client
	// Target is what the migration wants the document to say.
	Target Target
	// Resolver reads the DID's document. Submitter sends the operation and
	// waits for the directory; the step reports through its Progress.
	// Signer signs the operation.
	Resolver  Resolver
	Submitter Submitter
	Signer    Signer
	// Journal records the operation (its CID before it is sent, and the
	// signed operation, so that an interrupted run reuses it instead of
	// spending a second email token) and the endpoint the DID must name.
	Journal *checkpoint.Journal
	// Gate checks that the new PDS holds every record and blob: nothing is
	// requested, signed or published while it fails.
	Gate func(context.Context) error
}

// Outcome is what the step leaves for the run.
type Outcome struct {
	// State is the DID's state as last read (nil until it was read).
	State *plc.State
	// Switched is set once the DID points at the new PDS with its key.
	Switched bool
	// Note says what the step did; with Skipped, why it had nothing to do.
	Note    string
	Skipped bool
}

// Run points the DID at the new PDS, or writes the did:web document to
// publish and pauses. Its Outcome is filled as far as the step got, also
// when it returns an error.
func (s Step) Run(ctx context.Context) (Outcome, error) {
	var out Outcome
	st, err := s.Resolver.State(ctx, s.DID)
	if err != nil {
		return out, fmt.Errorf("read the DID's current document: %w", err)
	}
	rec := s.Journal.State().PLC
	if st, err = s.Submitter.AwaitRecorded(ctx, s.DID, rec, st); err != nil {
		return out, err
	}
	out.State = st
	cred, err := s.New.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return out, fmt.Errorf("get the new PDS's recommended DID credentials: %w", err)
	}
	intent, err := s.Target.intent(cred)
	if err != nil {
		return out, err
	}
	s.Journal.Update(func(cs *checkpoint.State) { cs.NewPDSEndpoint = intent.Endpoint })
	if IsDIDWeb(s.DID) {
		return s.web(ctx, st, intent)
	}
	if matches(st, intent) {
		out.Switched, out.Skipped = true, true
		out.Note = fmt.Sprintf("the DID already points at %s with its signing key", intent.Endpoint)
		return out, nil
	}
	// The log just read says whether our recorded operation went through
	// (a second read here once dropped its error and carried on).
	if rec.OpCID != "" && Live(st, rec.OpCID) {
		return out, fmt.Errorf("operation %s is in the audit log but the document does not point at %s; check `atmigrate plc log`", rec.OpCID, intent.Endpoint)
	}
	// The gate: nothing is requested or signed while the new PDS lacks a
	// record or a blob.
	if err := s.Gate(ctx); err != nil {
		return out, err
	}

	want, err := plc.BuildUpdate(st, intent)
	if err != nil {
		return out, fmt.Errorf("build the PLC operation: %w", err)
	}
	op := s.reusableSignedOp(st, want)
	if op == nil {
		if op, err = s.Signer.Sign(ctx, want); err != nil {
			return out, err
		}
		raw, err := plc.OpJSON(op)
		if err != nil {
			return out, err
		}
		if err := recordPLC(s.Journal, func(p *checkpoint.PLCInfo) { p.SignedOp = raw }); err != nil {
			return out, err
		}
	}
	diff := plc.DiffDocLabeled(&st.Op, op, keyLabels(st, intent))
	shown, err := s.Submitter.Submit(ctx, Submission{
		DID: s.DID, State: st, Op: op, Want: want, Check: OpChecks(1),
		Ask: ui.Confirmation{Question: "Point " + s.DID + " at " + intent.Endpoint + "?", Details: "DID document, as it is and as it will be:\n" + diff,
			What: "the PLC operation", IfNo: "run again when ready; the data stays on the new PDS"},
		Record: func(cid string) error { return recordPLC(s.Journal, func(p *checkpoint.PLCInfo) { p.OpCID = cid }) },
		Sent: func() error {
			return recordPLC(s.Journal, func(p *checkpoint.PLCInfo) { p.Submitted = time.Now().UTC() })
		},
		Via: s.New, Crash: "plc", Stage: stage.Identity,
	})
	if err != nil {
		return out, err
	}
	out.State, out.Switched = shown, true
	p := s.Journal.State().PLC
	out.Note = fmt.Sprintf("%s now points at %s (op %s, %s)", s.DID, intent.Endpoint, p.OpCID, p.Method)
	return out, nil
}

// web is the identity step for did:web: write the document to publish and
// pause until it is published.
func (s Step) web(ctx context.Context, st *plc.State, in plc.Intent) (Outcome, error) {
	out := Outcome{State: st}
	if matches(st, in) {
		out.Switched, out.Note = true, fmt.Sprintf("%s's published document points at %s", s.DID, in.Endpoint)
		return out, nil
	}
	// The gate holds for did:web too: nothing to publish before the new PDS
	// has every record and blob.
	if err := s.Gate(ctx); err != nil {
		return out, err
	}
	raw, _, err := fetchWeb(ctx, s.Resolver.Servers, s.DID)
	if err != nil {
		return out, err
	}
	doc := nextWebDoc(raw, s.DID, in)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return out, err
	}
	path := filepath.Join(s.Journal.Dir(), DIDWebFile)
	if err := fsutil.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return out, err
	}
	u, _ := webURL(s.DID)
	s.Submitter.Progress.Info(fmt.Sprintf("publish this document at %s (written to %s):\n%s", u, path, b))
	return out, &failure.PauseError{
		Reason: fmt.Sprintf("waiting for the did:web document at %s to point at %s", u, in.Endpoint),
		Hint:   fmt.Sprintf("publish %s at %s, then run the same command again", path, u),
	}
}

// reusableSignedOp returns the operation an interrupted run signed, if it
// still fits: same intent, and still chained to the DID's latest operation.
func (s Step) reusableSignedOp(st *plc.State, want *didplc.RegularOp) *didplc.RegularOp {
	signed := s.Journal.State().PLC.SignedOp
	if len(signed) == 0 {
		return nil
	}
	op, err := plc.ParseOp(signed)
	if err != nil {
		return nil
	}
	if _, err := plc.Check(st, op, want, plc.CheckOptions{RequireSignature: true, OpsNeeded: 1, Now: time.Now()}); err != nil {
		s.Journal.Update(func(cs *checkpoint.State) { cs.PLC.SignedOp = nil })
		return nil
	}
	s.Submitter.Progress.Info("reusing the PLC operation signed by the interrupted run")
	return op
}
