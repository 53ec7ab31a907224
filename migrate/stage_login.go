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

// stageLogin resolves the account to a DID and its PDS, opens the state
// directory and logs in to the old PDS. It writes nothing anywhere but the
// state directory.
func (m *Migrator) stageLogin(ctx context.Context) (string, error) {
	o := &m.opts
	if o.Account == "" {
		return "", inputErr(nil, "pass --account with a handle or a DID", "no account given")
	}
	if o.OldPassword == "" && o.FromBackup == "" {
		return "", inputErr(nil, "pass --old-password or set ATMIGRATE_OLD_PASSWORD", "no password for the old account")
	}
	if o.NewPDS == "" {
		return "", inputErr(nil, "pass --new-pds with the new PDS's URL", "no new PDS given")
	}
	o.NewPDS = strings.TrimRight(o.NewPDS, "/")
	o.OldPDS = strings.TrimRight(o.OldPDS, "/")
	m.plc = plc.NewClient(o.PLCURL, m.httpClient())

	did, err := m.resolveDID(ctx)
	if err != nil {
		return "", err
	}
	m.did = did
	if err := m.openState(); err != nil {
		return "", err
	}
	if m.st.Completed {
		return "already migrated", nil
	}

	st, err := m.identityState(ctx, did)
	if err != nil {
		if isDIDWeb(did) {
			return "", inputErr(err, "the document must be published at https://<host>/.well-known/did.json", "cannot read %s's did:web document", did)
		}
		if errors.Is(err, plc.ErrDIDNotFound) {
			return "", inputErr(err, "check --account and --plc-url", "the PLC directory at %s does not know %s", o.PLCURL, did)
		}
		return "", fmt.Errorf("read the DID's PLC audit log: %w", err)
	}
	m.plcState = st

	if m.st.OldPDS == "" {
		switch {
		case o.OldPDS != "":
			m.st.OldPDS = o.OldPDS
		case st.Endpoint() != "" && strings.TrimRight(st.Endpoint(), "/") != o.NewPDS:
			m.st.OldPDS = strings.TrimRight(st.Endpoint(), "/")
		default:
			return "", inputErr(nil, "pass --old-pds with the old PDS's URL", "the DID already points at %s; cannot tell which PDS it is moving from", o.NewPDS)
		}
	}
	if m.st.Handle == "" {
		m.st.Handle = st.Handle()
	}
	if o.FromBackup != "" {
		return m.openBackupSource(ctx)
	}

	m.startEarlyExport(ctx)
	m.old = pds.New(m.st.OldPDS, m.pdsOptions(nil))
	sess, err := m.old.Login(ctx, loginIdentifier(did, m.st.Handle), o.OldPassword, o.AuthFactorToken)
	if err != nil {
		return "", loginError(err, m.st.OldPDS, "--old-password")
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
	if o.OldPDS != "" {
		c := pds.New(o.OldPDS, m.pdsOptions(nil))
		did, err := c.ResolveHandle(ctx, handle.Normalize().String())
		if err == nil {
			return did, nil
		}
		if pds.IsTransient(err) {
			return "", fmt.Errorf("resolve %s at %s: %w", handle, o.OldPDS, err)
		}
		return "", inputErr(err, "check the handle, or pass the DID with --account", "%s does not know the handle %s", o.OldPDS, handle)
	}
	dir := &identity.BaseDirectory{PLCURL: o.PLCURL, UserAgent: "atmigrate/" + Version}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	did, err := dir.ResolveHandle(rctx, handle)
	if err != nil {
		return "", inputErr(err, "check the handle, or pass --old-pds (handles are then resolved by that PDS) or the DID", "cannot resolve the handle %s", handle)
	}
	if did.Method() != "plc" && did.Method() != "web" {
		return "", inputErr(nil, "atmigrate moves did:plc and did:web accounts", "%s is a did:%s account", did, did.Method())
	}
	return did.String(), nil
}

// openState loads or creates the state for m.did. A state dir that belongs
// to another DID is refused rather than overwritten.
func (m *Migrator) openState() error {
	dir := m.opts.StateDir
	if dir == "" {
		d, err := DefaultStateDir(m.did)
		if err != nil {
			return err
		}
		dir = d
	}
	m.dir = dir
	st, err := LoadState(dir)
	if err != nil {
		return err
	}
	if st != nil && st.DID != m.did {
		return inputErr(nil, "use another --state-dir for this account", "the state dir %s belongs to %s, not %s", dir, st.DID, m.did)
	}
	if st != nil && st.NewPDS != "" && st.NewPDS != m.opts.NewPDS {
		return inputErr(nil, "finish that migration, or use another --state-dir", "the state dir %s is for a migration to %s, not %s", dir, st.NewPDS, m.opts.NewPDS)
	}
	if st == nil {
		st = &State{DID: m.did, NewPDS: m.opts.NewPDS, PLCURL: m.opts.PLCURL, Started: time.Now().UTC(), Stages: map[Stage]*StageStatus{}}
		st.Source = "pds"
		if m.opts.FromBackup != "" {
			st.Source = "backup:" + m.opts.FromBackup
		}
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
