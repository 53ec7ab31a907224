package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/did-method-plc/go-didplc/didplc"
)

// tokenReRequestAfter is how long a requested PLC email token is taken to
// be still usable: no run asks for another (which voids the first) sooner.
// No server says how long its token lives, so nothing here promises a
// lifetime: the reference PDS keeps it 15 minutes, cocoon 10; this is
// below both.
const tokenReRequestAfter = 9 * time.Minute

// TokenLifeWords is all the tool says of a token's lifetime.
const TokenLifeWords = "tokens are short-lived and the server does not say for how long: use it soon"

// stageIdentity points the DID at the new PDS. It is the one stage that
// must happen exactly once, so it starts from the PLC directory's audit
// log, not from the checkpoint: an operation recorded as about to be
// submitted is looked up there before anything is sent again.
func (m *Migrator) stageIdentity(ctx context.Context) (string, error) {
	st, err := m.ids.state(ctx, m.did)
	if err != nil {
		return "", fmt.Errorf("read the DID's current document: %w", err)
	}
	if st, err = m.awaitRecordedOp(ctx, st); err != nil {
		return "", err
	}
	m.plcState = st
	cred, err := m.new.GetRecommendedDidCredentials(ctx)
	if err != nil {
		return "", fmt.Errorf("get the new PDS's recommended DID credentials: %w", err)
	}
	intent, err := m.intent(cred)
	if err != nil {
		return "", err
	}
	m.st.NewPDSEndpoint = intent.Endpoint
	if isDIDWeb(m.did) {
		return m.webIdentity(ctx, st, intent)
	}
	if identityMatches(st, intent) {
		m.identityDone = true
		return "", skip("the DID already points at %s with its signing key", intent.Endpoint)
	}
	// The log just read says whether our recorded operation went through
	// (a second read here once dropped its error and carried on).
	if m.st.PLC.OpCID != "" && logHas(st, m.st.PLC.OpCID) {
		return "", fmt.Errorf("operation %s is in the audit log but the document does not point at %s; check `atmigrate plc log`", m.st.PLC.OpCID, intent.Endpoint)
	}
	// The gate: nothing is requested or signed while the new PDS lacks a
	// record or a blob.
	if _, err := m.checkNewHasEverything(ctx); err != nil {
		return "", err
	}

	want, err := plc.BuildUpdate(st, intent)
	if err != nil {
		return "", fmt.Errorf("build the PLC operation: %w", err)
	}
	op := m.reusableSignedOp(st, want)
	if op == nil {
		if op, err = m.signOperation(ctx, want); err != nil {
			return "", err
		}
		raw, err := plc.OpJSON(op)
		if err != nil {
			return "", err
		}
		m.st.PLC.SignedOp = raw
		if err := m.save(); err != nil {
			return "", err
		}
	}
	diff := plc.DiffDocLabeled(&st.Op, op, keyLabels(st, intent))
	shown, err := m.submitter().submitOp(ctx, opSubmission{
		did: m.did, st: st, op: op, want: want, check: opChecks(1),
		ask: ui.Confirmation{Question: "Point " + m.did + " at " + intent.Endpoint + "?", Details: "DID document, as it is and as it will be:\n" + diff,
			What: "the PLC operation", IfNo: "run again when ready; the data stays on the new PDS"},
		record: func(cid string) error { m.st.PLC.OpCID = cid; return m.save() },
		sent:   func() error { m.st.PLC.Submitted = time.Now().UTC(); return m.save() },
		via:    m.new, crash: "plc", stage: stage.Identity,
	})
	if err != nil {
		return "", err
	}
	m.plcState = shown
	m.identityDone = true
	return fmt.Sprintf("%s now points at %s (op %s, %s)", m.did, intent.Endpoint, m.st.PLC.OpCID, m.st.PLC.Method), nil
}

// reusableSignedOp returns the operation an interrupted run signed, if it
// still fits: same intent, and still chained to the DID's latest operation.
func (m *Migrator) reusableSignedOp(st *plc.State, want *didplc.RegularOp) *didplc.RegularOp {
	if len(m.st.PLC.SignedOp) == 0 {
		return nil
	}
	op, err := plc.ParseOp(m.st.PLC.SignedOp)
	if err != nil {
		return nil
	}
	if _, err := plc.Check(st, op, want, plc.CheckOptions{RequireSignature: true, OpsNeeded: 1, Now: time.Now()}); err != nil {
		m.st.PLC.SignedOp = nil
		return nil
	}
	m.prog.Info("reusing the PLC operation signed by the interrupted run")
	return op
}

// intent is what the document must become: the new PDS's endpoint and
// signing key, the user's own rotation keys kept first.
func (m *Migrator) intent(cred *pds.Credentials) (plc.Intent, error) {
	in := plc.Intent{
		Endpoint:         m.opts.NewPDS,
		SigningKey:       cred.VerificationMethods["atproto"],
		PDSRotationKeys:  cred.RotationKeys,
		DropRotationKeys: m.st.OldPDSRotationKeys,
		AddRotationKeys:  m.opts.AddRotationKeys,
		Handle:           m.st.NewHandle,
	}
	if s, ok := cred.Services["atproto_pds"]; ok && s.Endpoint != "" {
		in.Endpoint = s.Endpoint
	}
	if in.SigningKey == "" {
		return in, fmt.Errorf("the new PDS recommended no atproto signing key")
	}
	for _, aka := range cred.AlsoKnownAs {
		if h, ok := strings.CutPrefix(aka, "at://"); ok {
			in.Handle = h
			break
		}
	}
	return in, nil
}

func identityMatches(st *plc.State, in plc.Intent) bool {
	return plcPointsAt(st, in.Endpoint) && st.SigningKey() == in.SigningKey
}

// signOperation signs want locally with the user's rotation key, or has the
// old PDS sign it with the email token.
func (m *Migrator) signOperation(ctx context.Context, want *didplc.RegularOp) (*didplc.RegularOp, error) {
	if m.opts.RotationKey != nil {
		op := *want
		if err := plc.Sign(&op, m.opts.RotationKey); err != nil {
			return nil, fmt.Errorf("sign the PLC operation: %w", err)
		}
		m.st.PLC.Method = "rotation-key"
		return &op, nil
	}
	if m.old == nil {
		return nil, failure.Input(nil, "pass --rotation-key", "without the old PDS the PLC operation must be signed with your own rotation key")
	}
	token, err := m.plcToken(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := m.old.SignPlcOperation(ctx, token, &pds.Credentials{
		RotationKeys:        want.RotationKeys,
		AlsoKnownAs:         want.AlsoKnownAs,
		VerificationMethods: want.VerificationMethods,
		Services:            toPDSServices(want.Services),
	})
	if err != nil {
		if refused := tokenRefused(err); refused != nil {
			// The next run has a new token emailed: this one is spent.
			m.st.PLC.TokenRequested = time.Time{}
			_ = m.save()
			return nil, refused
		}
		return nil, fmt.Errorf("have %s sign the PLC operation: %w", m.st.OldPDS, err)
	}
	op, err := plc.ParseOp(raw)
	if err != nil {
		return nil, fmt.Errorf("read the operation %s signed: %w", m.st.OldPDS, err)
	}
	m.st.PLC.Method = "email-token"
	return op, nil
}

// plcToken returns the email token: given on the command line, typed at
// the prompt after we request it, or ErrPaused when nobody can type it.
// Data comes first: by now every record and blob is on the new PDS, so the
// token's short life is never spent waiting on transfers.
func (m *Migrator) plcToken(ctx context.Context) (string, error) {
	if m.opts.PLCToken != "" {
		return strings.TrimSpace(m.opts.PLCToken), nil
	}
	email := ""
	if m.oldSess != nil {
		email = m.oldSess.Email
	}
	fresh := !m.st.PLC.TokenRequested.IsZero() && time.Since(m.st.PLC.TokenRequested) < tokenReRequestAfter
	if !fresh {
		if err := m.old.RequestPlcOperationSignature(ctx); err != nil {
			return "", fmt.Errorf("ask %s to email the PLC token: %w", m.st.OldPDS, err)
		}
		m.st.PLC.TokenRequested = time.Now().UTC()
		if err := m.save(); err != nil {
			return "", err
		}
		m.prog.Info(fmt.Sprintf("%s emailed a confirmation token to %s (%s)", m.st.OldPDS, cmp.Or(email, "the account's address"), TokenLifeWords))
	}
	tok, err := m.ui.PLCToken(email)
	if errors.Is(err, ui.ErrNoTerminal) {
		return "", failure.ErrPaused
	}
	if err != nil {
		return "", err
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", failure.ErrPaused
	}
	return tok, nil
}

func toPDSServices(s map[string]didplc.OpService) map[string]pds.Service {
	out := make(map[string]pds.Service, len(s))
	for k, v := range s {
		out[k] = pds.Service{Type: v.Type, Endpoint: v.Endpoint}
	}
	return out
}

// keyLabels names whose each rotation key is, for the diff shown before
// the operation is submitted.
func keyLabels(st *plc.State, in plc.Intent) map[string]string {
	labels := map[string]string{}
	for _, k := range st.RotationKeys() {
		labels[k] = "yours"
	}
	for _, k := range in.AddRotationKeys {
		labels[k] = "yours, added"
	}
	for _, k := range in.DropRotationKeys {
		labels[k] = "old PDS"
	}
	for _, k := range in.PDSRotationKeys {
		labels[k] = "new PDS"
	}
	labels[in.SigningKey] = "new PDS signing key"
	return labels
}

// tokenRefused is the PDS's refusal of the emailed PLC token as the bad
// input it is (nil for any other failure): the migration and plc
// add-rotation-key say it the same way.
func tokenRefused(err error) error {
	switch pds.ErrorName(err) {
	case "InvalidToken", "ExpiredToken", "InvalidEmailToken":
		return failure.Input(err, "check the token in the email (only the newest one counts); if it has expired, run again without --plc-token to have a new one emailed", "the PDS refused the PLC token")
	}
	return nil
}
