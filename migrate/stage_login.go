package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// prepare does what every run does before it looks at any server's
// account: it checks the inputs, proves the state dir writable, resolves
// the account to a DID, takes the state dir's lock and loads the state.
// It writes nothing anywhere but the state dir.
func (m *Migrator) prepare(ctx context.Context) error {
	o := &m.opts
	if o.Account == "" {
		return inputErr(nil, "pass --account with a handle or a DID", "no account given")
	}
	if o.OldPassword == "" && o.FromBackup == "" {
		return inputErr(nil, "pass --old-password or set ATMIGRATE_OLD_PASSWORD", "no password for the old account")
	}
	if o.NewPDS == "" {
		return inputErr(nil, "pass --new-pds with the new PDS's URL", "no new PDS given")
	}
	o.NewPDS = strings.TrimRight(o.NewPDS, "/")
	o.OldPDS = strings.TrimRight(o.OldPDS, "/")
	m.plc = m.newPLC()

	// The state dir must be usable before any server is asked anything.
	root := o.StateDir
	if root == "" {
		r, err := DefaultStateRoot()
		if err != nil {
			return err
		}
		root = r
	}
	if err := ensureWritableDir(root); err != nil {
		return err
	}

	did, err := m.resolveDID(ctx)
	if err != nil {
		return err
	}
	m.did = did
	m.dir = o.StateDir
	if m.dir == "" {
		if m.dir, err = DefaultStateDir(did); err != nil {
			return err
		}
	}
	unlock, err := lockStateDir(m.dir)
	if err != nil {
		return err
	}
	m.unlock = unlock
	if err := m.openState(); err != nil {
		unlock()
		m.unlock = func() {}
		return err
	}
	return nil
}

// stageLogin logs in to the old PDS (or opens the backup). The DID
// document and both servers were observed before; this stage only opens
// the session the later stages need.
func (m *Migrator) stageLogin(ctx context.Context) (string, error) {
	o := &m.opts
	did := m.did
	if m.st.OldPDS == "" {
		m.st.OldPDS = m.world.Old.URL
	}
	if m.st.OldPDS == "" && o.FromBackup == "" {
		return "", inputErr(nil, "pass --old-pds with the old PDS's URL", "cannot tell which PDS the account is moving from")
	}
	if m.st.Handle == "" && m.plcState != nil {
		m.st.Handle = m.plcState.Handle()
	}
	if o.FromBackup != "" {
		return m.openBackupSource(ctx)
	}

	if m.plan.Runs(StageExportRepo) {
		m.startEarlyExport(ctx)
	}
	m.old = pds.New(m.st.OldPDS, m.pdsOptions(nil))
	sess, err := m.old.Login(ctx, loginIdentifier(did, m.st.Handle), o.OldPassword, o.AuthFactorToken)
	if err != nil {
		return "", loginError(err, m.st.OldPDS, "--old-password")
	}
	if sess.AppPassword() {
		// An app password opens a session, but one that cannot sign a PLC
		// operation, and it would become the new account's password.
		return "", inputErr(nil, "pass the account's own password with --old-password (or ATMIGRATE_OLD_PASSWORD), not an app password",
			"%s accepted an app password: a migration needs the account password", m.st.OldPDS)
	}
	m.oldSess = sess
	if sess.Handle != "" && sess.Handle != "handle.invalid" {
		m.st.Handle = sess.Handle
	}
	m.src = &pdsSource{c: m.old, did: did}
	if err := m.save(); err != nil {
		return "", err
	}
	note := fmt.Sprintf("%s (%s) on %s", m.st.Handle, did, m.st.OldPDS)
	if !sess.Active {
		note += fmt.Sprintf(", old account %s", orDefault(sess.Status, "inactive"))
	}
	return note, nil
}

// loginError turns a createSession failure into an error the user can act on.
func loginError(err error, host, flag string) error {
	switch pds.ErrorName(err) {
	case "AuthFactorTokenRequired":
		return inputErr(nil, "a sign-in code was emailed to the account's address: run again with --auth-factor-token CODE",
			"%s asks for a sign-in code (email 2FA)", host)
	case "AuthenticationRequired", "InvalidPassword":
		return inputErr(nil, "check "+flag+" (an app password does not work: use the account password)",
			"%s refused the password", host)
	case "AccountTakedown":
		return inputErr(err, "the old PDS has taken the account down; a backup and your own rotation key are the way out (atmigrate migrate --from-backup)", "login refused")
	}
	if pds.IsTransient(err) {
		return fmt.Errorf("log in to %s: %w", host, err)
	}
	return inputErr(err, "check the account and the PDS URL", "log in to %s", host)
}

// resolveDID turns --account into a DID without touching the new PDS.
func (m *Migrator) resolveDID(ctx context.Context) (string, error) {
	o := &m.opts
	atid, err := syntax.ParseAtIdentifier(o.Account)
	if err != nil {
		return "", inputErr(nil, "give a handle like alice.example.com or a DID like did:plc:...", "%q is neither a handle nor a DID", o.Account)
	}
	if atid.IsDID() {
		did, _ := atid.AsDID()
		if did.Method() != "plc" && did.Method() != "web" {
			return "", inputErr(nil, "did:web accounts are moved by publishing a new did.json; atmigrate handles did:plc accounts",
				"%s is a did:%s account", did, did.Method())
		}
		return did.String(), nil
	}
	handle, _ := atid.AsHandle()
	h := handle.Normalize().String()
	var first error
	if o.OldPDS != "" {
		did, err := pds.New(o.OldPDS, m.pdsOptions(nil)).ResolveHandle(ctx, h)
		if err == nil {
			return did, nil
		}
		if pds.IsTransient(err) {
			return "", fmt.Errorf("resolve %s at %s: %w", handle, o.OldPDS, err)
		}
		first = inputErr(err, "check the handle, or pass the DID with --account", "%s does not know the handle %s", o.OldPDS, handle)
	} else {
		dir := &identity.BaseDirectory{PLCURL: o.PLCURL, UserAgent: "atmigrate/" + Version}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		did, err := dir.ResolveHandle(rctx, handle)
		cancel()
		if err == nil {
			if did.Method() != "plc" && did.Method() != "web" {
				return "", inputErr(nil, "atmigrate moves did:plc and did:web accounts", "%s is a did:%s account", did, did.Method())
			}
			return did.String(), nil
		}
		first = inputErr(err, "check the handle, or pass --old-pds (handles are then resolved by that PDS) or the DID", "cannot resolve the handle %s", handle)
	}
	// A deactivated account's handle no longer resolves on its old PDS:
	// after a move (or half of one) the new PDS answers for it. Its word is
	// taken only when the DID document claims the handle back.
	did, err := m.resolveOnNewPDS(ctx, h)
	if err != nil {
		return "", err
	}
	if did != "" {
		return did, nil
	}
	return "", first
}

// resolveOnNewPDS asks the new PDS for the handle and checks the answer
// against the DID document's alsoKnownAs: "" when it cannot vouch for it.
// The new PDS's silence is only that, but a DID document that cannot be
// read is an error: the move could not go on without it anyway, and "cannot
// resolve the handle" would send the user after the wrong problem.
func (m *Migrator) resolveOnNewPDS(ctx context.Context, handle string) (string, error) {
	if m.opts.NewPDS == "" {
		return "", nil
	}
	opts := m.pdsOptions(m.opts.NewPDSHeaders)
	if m.opts.Retry == nil {
		opts.Retry = probePolicy
	}
	did, err := pds.New(m.opts.NewPDS, opts).ResolveHandle(ctx, handle)
	if err != nil || !strings.HasPrefix(did, "did:") {
		return "", nil
	}
	if m.plc == nil {
		m.plc = m.newPLC()
	}
	st, err := m.identityState(ctx, did)
	if errors.Is(err, plc.ErrDIDNotFound) {
		return "", nil // the directory does not know what the new PDS answered
	}
	if err != nil {
		return "", fmt.Errorf("check %s's answer for %s (%s) against its DID document: %w", m.opts.NewPDS, handle, did, err)
	}
	for _, aka := range st.Op.AlsoKnownAs {
		if strings.EqualFold(aka, "at://"+handle) {
			return did, nil
		}
	}
	return "", nil
}

// openState loads or creates the state for m.did (see loadRunState).
func (m *Migrator) openState() error {
	st, forgot, err := loadRunState(m.dir, m.did, m.opts)
	if err != nil {
		return err
	}
	if forgot != "" {
		m.prog.Info(fmt.Sprintf("the state dir was for %s, where nothing was written: starting over for %s", forgot, m.opts.NewPDS))
	}
	m.st = st
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// ResolveAccount turns a handle or DID into a DID, resolving handles
// through pdsURL when given (needed for handles only a PDS knows) and
// through DNS/HTTPS otherwise.
func ResolveAccount(ctx context.Context, account, pdsURL, plcURL string) (string, error) {
	m := &Migrator{opts: Options{Account: account, OldPDS: strings.TrimRight(pdsURL, "/"), PLCURL: plcURL}}
	m.opts.defaults()
	m.prog = m.opts.Progress
	return m.resolveDID(ctx)
}

// loginIdentifier is what to log in with. The reference PDS lowercases
// identifiers, so a did:web with a percent-encoded port ("%3A") can only
// log in by handle.
func loginIdentifier(did, handle string) string {
	if isDIDWeb(did) && strings.ToLower(did) != did && handle != "" {
		return handle
	}
	return did
}
