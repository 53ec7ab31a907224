package fakenet

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"
	"github.com/ipfs/go-cid"
)

// Access-token scopes the reference PDS puts in its session JWTs.
const (
	// ScopeAccess is a session made with the account password.
	ScopeAccess = "com.atproto.access"
	// ScopeAppPass is a session made with an ordinary app password.
	ScopeAppPass = "com.atproto.appPass"
	// ScopeAppPassPrivileged is a session made with a privileged app
	// password.
	ScopeAppPassPrivileged = "com.atproto.appPassPrivileged"

	scopeRefresh = "com.atproto.refresh"
)

var (
	accessStandard = []string{ScopeAccess, ScopeAppPassPrivileged, ScopeAppPass}
	accessFull     = []string{ScopeAccess}
)

// PDSOptions configures NewPDS. The zero value is usable.
type PDSOptions struct {
	// PublicURL is the URL the PDS believes it is served at (its
	// cfg.service.publicUrl): what getRecommendedDidCredentials
	// recommends and what submitPlcOperation and activateAccount compare
	// the DID document's endpoint with, byte for byte. Default: the
	// httptest URL. Set it to simulate a PDS behind a proxy.
	PublicURL string
	// ServiceDID overrides the service DID. Default: did:web:<host of
	// PublicURL> (":" escaped as %3A), or a did:plc when ServiceDIDPLC.
	ServiceDID string
	// ServiceDIDPLC registers a did:plc for the service on the PLC (its
	// rotation key rotating and signing, endpoint PublicURL).
	ServiceDIDPLC bool
	// UserDomains is describeServer's availableUserDomains; default
	// [".test"].
	UserDomains []string
	// InviteCodeRequired makes createAccount demand one of InviteCodes
	// (each usable once).
	InviteCodeRequired bool
	InviteCodes        []string
	// RecoveryDIDKey is the PDS's PDS_RECOVERY_DID_KEY: put before its own
	// rotation key in the rotation keys it recommends and creates DIDs
	// with.
	RecoveryDIDKey string
	// RotationKey is the PDS's PLC rotation key; nil generates a K-256 key.
	RotationKey atcrypto.PrivateKey
	// AdminPassword enables Basic admin:<password> (createInviteCode, and
	// admin reads of deactivated repos); "" disables admin auth.
	AdminPassword string
	// OnImport, if set, is called with each importRepo body before it is
	// applied; an error aborts the import (an *XRPCError is answered as
	// is, anything else as 500). It runs without the PDS's lock, so it
	// may call Modify or SetCommit.
	OnImport func(did string, car []byte) error
	// BlobUploadLimit, when set, is reported by describeServer (as PDS
	// 0.5.x does) and makes uploadBlob answer 413 PayloadTooLarge above it.
	BlobUploadLimit int64
	// ResignImports makes importRepo re-sign what it imports with the
	// account's own signing key, as cocoon does: the head is a new commit
	// (another CID and rev) over the same data, served by getBlocks.
	ResignImports bool
	// RefuseEmptyWrites makes applyWrites refuse an empty list of writes,
	// like a PDS that needs at least one; RefuseRecordWrites makes it
	// refuse a record's create or delete; FailDeletes fails that many
	// deletes with a 500 first.
	RefuseEmptyWrites  bool
	RefuseRecordWrites bool
	FailDeletes        int
	// UnknownRepo500 makes getRepoStatus for a DID the PDS does not host
	// answer 500, as cocoon does, instead of 400 RepoNotFound.
	UnknownRepo500 bool
	// ExpectImportedBlobs makes importRepo add every blob the imported
	// records reference to the account's ExpectedBlobs, as the reference
	// PDS indexes what it imports, so that listMissingBlobs lists those not
	// uploaded yet (a difference imported later adds its own). The record
	// URI is at://<did>/<record $type>/<record block CID>.
	ExpectImportedBlobs bool
}

// AppPassword is an app password of an account.
type AppPassword struct {
	Name       string
	Password   string
	Privileged bool
	CreatedAt  string
}

// Blob is a stored blob.
type Blob struct {
	Data     []byte
	MimeType string
}

// Account is the state of one account on a fake PDS. Account returns a
// copy; Modify changes it in place.
type Account struct {
	DID            string
	Handle         string
	Email          string
	Password       string
	EmailConfirmed bool
	AppPasswords   []AppPassword
	// Deactivated: a migrated account is created deactivated and becomes
	// active with activateAccount.
	Deactivated bool
	// CommitCID and Rev are the repo head (getLatestCommit,
	// checkAccountStatus repoCommit/repoRev, getRepoStatus rev).
	CommitCID string
	Rev       string
	// RepoBlocks and IndexedRecords are reported by checkAccountStatus.
	RepoBlocks     int64
	IndexedRecords int64
	// RepoCAR is what sync.getRepo serves; importRepo stores its body here.
	RepoCAR []byte
	// ExpectedBlobs maps the CID of each blob the records reference to the
	// URI of a record referencing it; listMissingBlobs lists those not in
	// Blobs.
	ExpectedBlobs map[string]string
	// Blobs are the stored blobs by CID (uploadBlob adds to it).
	Blobs map[string]Blob
	// Preferences is the raw JSON array of app.bsky.actor preferences.
	Preferences json.RawMessage
	// AuthFactorToken, when set, makes a password login answer 401
	// AuthFactorTokenRequired until the request carries this token (an
	// entryway behaviour; the reference PDS has no email 2FA).
	AuthFactorToken string
	// Imports counts the importRepo calls that succeeded.
	Imports int
	// Imported is the commit the last import carried (CommitCID moves on
	// when the PDS signs a commit of its own).
	Imported string
	// Writes counts the commits applyWrites made, and Records holds the
	// records it created (path to the commit data before the create).
	Writes  int
	Records map[string]string
	// SigningKey is the did:key of the account's signing key (read only).
	SigningKey string
	// Blocks are extra blocks getBlocks serves besides RepoCAR's (the
	// re-signed commits of ResignImports), by CID.
	Blocks map[string][]byte
}

// Active reports whether the account is active (not deactivated).
func (a *Account) Active() bool { return !a.Deactivated }

// MissingBlobs lists the expected blob CIDs not stored, sorted.
func (a *Account) MissingBlobs() []string {
	var out []string
	for _, c := range sortedKeys(a.ExpectedBlobs) {
		if _, ok := a.Blobs[c]; !ok {
			out = append(out, c)
		}
	}
	return out
}

func (a *Account) clone() Account {
	c := *a
	c.AppPasswords = slices.Clone(a.AppPasswords)
	c.RepoCAR = slices.Clone(a.RepoCAR)
	c.ExpectedBlobs = maps.Clone(a.ExpectedBlobs)
	c.Blobs = map[string]Blob{}
	for k, b := range a.Blobs {
		c.Blobs[k] = Blob{Data: slices.Clone(b.Data), MimeType: b.MimeType}
	}
	c.Preferences = slices.Clone(a.Preferences)
	c.Records = maps.Clone(a.Records)
	c.Blocks = maps.Clone(a.Blocks)
	return c
}

// AccountSpec describes an account for AddAccount.
type AccountSpec struct {
	// DID of the account. "" registers a new did:plc on the PLC the way
	// createAccount does: genesis signed by the PDS's rotation key, with
	// rotationKeys [RecoveryKey, PDSOptions.RecoveryDIDKey, PDS rotation
	// key] (empty ones left out), the account's signing key, at://Handle
	// and the PDS's public URL. A given DID is not touched on the PLC.
	DID             string
	Handle          string
	Email           string // default <handle with - for .>@mail.test
	Password        string
	EmailConfirmed  bool
	AppPasswords    []AppPassword
	Deactivated     bool
	CommitCID, Rev  string // default: a made-up commit and a current TID
	RepoBlocks      int64
	IndexedRecords  int64
	RepoCAR         []byte
	Blocks          map[string][]byte // served by getBlocks besides RepoCAR's
	ExpectedBlobs   map[string]string
	Blobs           []Blob // stored under BlobCID(Data)
	Preferences     json.RawMessage
	AuthFactorToken string
	RecoveryKey     string
	// SigningKey is the account's repo signing key; nil generates one.
	SigningKey atcrypto.PrivateKey
}

type account struct {
	Account
	signing  atcrypto.PrivateKey
	plcToken string
}

// token is what the PDS remembers about a JWT it issued.
type token struct {
	did     string
	scope   string // the access scope (also on refresh tokens: what a refresh hands out)
	refresh bool
	expired bool // access token: answers ExpiredToken
	revoked bool // refresh token: already used
	appPass string
}

// PDS is a fake PDS on an httptest server.
type PDS struct {
	// URL is the httptest URL, where clients connect.
	URL string

	t          testing.TB
	srv        *httptest.Server
	plc        *PLC
	opts       PDSOptions
	publicURL  string
	serviceDID string
	rotation   atcrypto.PrivateKey
	rotDIDKey  string
	secret     []byte
	sw         *switchboard
	hc         *http.Client
	routes     map[string]route

	mu       sync.Mutex
	accounts map[string]*account
	tokens   map[string]*token
	invites  map[string]bool
	tids     *syntax.TIDClock
}

// NewPDS starts a PDS, closed when the test ends. plc may be nil for a PDS
// that never touches a did:plc (no AddAccount without DID, no
// ServiceDIDPLC, no PLC-backed checks).
func NewPDS(t testing.TB, plc *PLC, opts PDSOptions) *PDS {
	t.Helper()
	p := &PDS{
		t:        t,
		plc:      plc,
		opts:     opts,
		sw:       newSwitchboard(),
		hc:       &http.Client{Timeout: 10 * time.Second},
		accounts: map[string]*account{},
		tokens:   map[string]*token{},
		invites:  map[string]bool{},
		secret:   []byte(randomHex(32)),
		tids:     syntax.NewTIDClock(0),
	}
	p.routes = p.buildRoutes()
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.publicURL = opts.PublicURL
	if p.publicURL == "" {
		p.publicURL = p.URL
	}
	p.rotation = opts.RotationKey
	if p.rotation == nil {
		k, err := atcrypto.GeneratePrivateKeyK256()
		if err != nil {
			t.Fatalf("fakenet: generate rotation key: %v", err)
		}
		p.rotation = k
	}
	pub, err := p.rotation.PublicKey()
	if err != nil {
		t.Fatalf("fakenet: rotation key: %v", err)
	}
	p.rotDIDKey = pub.DIDKey()
	switch {
	case opts.ServiceDID != "":
		p.serviceDID = opts.ServiceDID
	case opts.ServiceDIDPLC:
		if plc == nil {
			t.Fatalf("fakenet: ServiceDIDPLC needs a PLC")
		}
		p.serviceDID = plc.CreateDID(p.rotation, p.rotDIDKey, "", p.publicURL)
	default:
		u, err := url.Parse(p.publicURL)
		if err != nil || u.Host == "" {
			t.Fatalf("fakenet: bad public URL %q", p.publicURL)
		}
		p.serviceDID = "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
	}
	for _, c := range opts.InviteCodes {
		p.invites[c] = true
	}
	return p
}

// ServiceDID returns the PDS's DID (describeServer's did).
func (p *PDS) ServiceDID() string { return p.serviceDID }

// PublicURL returns the URL the PDS believes it is served at.
func (p *PDS) PublicURL() string { return p.publicURL }

// RotationKey returns the did:key of the PDS's PLC rotation key.
func (p *PDS) RotationKey() string { return p.rotDIDKey }

// RotationPrivateKey returns the PDS's PLC rotation key, for tests that
// sign operations as this PDS would.
func (p *PDS) RotationPrivateKey() atcrypto.PrivateKey { return p.rotation }

// SigningKeyFor returns the signing key the PDS holds for an account (nil
// for an unknown DID).
func (p *PDS) SigningKeyFor(did string) atcrypto.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accounts[did]; a != nil {
		return a.signing
	}
	return nil
}

// Down makes every request fail at the network level (the connection is
// closed without an answer) until Up.
func (p *PDS) Down() { p.sw.setDown(true) }

// Up undoes Down.
func (p *PDS) Up() { p.sw.setDown(false) }

// Calls counts the requests received for an NSID (each attempt counts,
// including requests dropped while Down).
func (p *PDS) Calls(nsid string) int { return p.sw.count(nsid) }

// Fail makes the next n calls of nsid answer status with {"error": name,
// "message": message}, without running the method.
func (p *PDS) Fail(nsid string, n, status int, name, message string) {
	p.sw.fail(nsid, n, &XRPCError{Status: status, Name: name, Message: message})
}

// FailWith makes the next n calls of nsid answer e (with its headers),
// without running the method.
func (p *PDS) FailWith(nsid string, n int, e *XRPCError) { p.sw.fail(nsid, n, e) }

// ClearFailures drops the failures still queued for nsid.
func (p *PDS) ClearFailures(nsid string) { p.sw.clear(nsid) }

// LoseResponse makes the next n calls of nsid take effect but lose their
// response: the method runs to completion, then the connection is closed
// without an answer (the client sees a network error and cannot tell
// whether the call was applied).
func (p *PDS) LoseResponse(nsid string, n int) { p.sw.loseResponses(nsid, n) }

// ExpireAccessTokens makes every access token issued so far answer 400
// ExpiredToken, so clients must refresh.
func (p *PDS) ExpireAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tk := range p.tokens {
		if !tk.refresh {
			tk.expired = true
		}
	}
}

// PLCToken returns the email token the last requestPlcOperationSignature
// "sent" to the account ("" if none is pending).
func (p *PDS) PLCToken(did string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accounts[did]; a != nil {
		return a.plcToken
	}
	return ""
}

// AddAccount creates an account directly (no HTTP) and returns its DID. It
// fails the test on a duplicate DID or a PLC refusal.
func (p *PDS) AddAccount(spec AccountSpec) string {
	p.t.Helper()
	if spec.Handle == "" {
		p.t.Fatalf("fakenet: AddAccount needs a handle")
	}
	signing := spec.SigningKey
	if signing == nil {
		k, err := atcrypto.GeneratePrivateKeyK256()
		if err != nil {
			p.t.Fatalf("fakenet: generate signing key: %v", err)
		}
		signing = k
	}
	pub, err := signing.PublicKey()
	if err != nil {
		p.t.Fatalf("fakenet: signing key: %v", err)
	}
	did := spec.DID
	if did == "" {
		if p.plc == nil {
			p.t.Fatalf("fakenet: AddAccount without DID needs a PLC")
		}
		op := p.genesisFor(spec.RecoveryKey, pub.DIDKey(), strings.ToLower(spec.Handle))
		did = p.plc.Genesis(op, p.rotation)
	}
	a := &account{signing: signing}
	a.Account = Account{
		DID:             did,
		Handle:          strings.ToLower(spec.Handle),
		Email:           spec.Email,
		Password:        spec.Password,
		EmailConfirmed:  spec.EmailConfirmed,
		AppPasswords:    slices.Clone(spec.AppPasswords),
		Deactivated:     spec.Deactivated,
		CommitCID:       spec.CommitCID,
		Rev:             spec.Rev,
		RepoBlocks:      spec.RepoBlocks,
		IndexedRecords:  spec.IndexedRecords,
		RepoCAR:         slices.Clone(spec.RepoCAR),
		ExpectedBlobs:   maps.Clone(spec.ExpectedBlobs),
		Blobs:           map[string]Blob{},
		Preferences:     slices.Clone(spec.Preferences),
		AuthFactorToken: spec.AuthFactorToken,
		SigningKey:      pub.DIDKey(),
	}
	if a.Email == "" {
		a.Email = strings.ReplaceAll(a.Handle, ".", "-") + "@mail.test"
	}
	if a.ExpectedBlobs == nil {
		a.ExpectedBlobs = map[string]string{}
	}
	for _, b := range spec.Blobs {
		a.Blobs[BlobCID(b.Data)] = Blob{Data: slices.Clone(b.Data), MimeType: b.MimeType}
	}
	for i := range a.AppPasswords {
		if a.AppPasswords[i].CreatedAt == "" {
			a.AppPasswords[i].CreatedAt = isoTime(time.Now())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accounts[did] != nil {
		p.t.Fatalf("fakenet: account %s already exists", did)
	}
	if spec.Blocks != nil {
		a.Blocks = maps.Clone(spec.Blocks)
	}
	if a.CommitCID == "" {
		// A commit signed by the account's key over made-up data: enough
		// for getLatestCommit and getBlocks, no records behind it.
		a.Rev = p.tids.Next().String()
		data, _ := cid.Decode(fakeCommitCID(did + a.Rev))
		if err := p.resignLocked(a, &repo.Commit{DID: did, Version: 3, Data: data}); err != nil {
			p.t.Fatalf("fakenet: made-up commit: %v", err)
		}
	}
	p.accounts[did] = a
	return did
}

// genesisFor is the unsigned genesis operation createAccount makes.
func (p *PDS) genesisFor(recoveryKey, signingKey, handle string) didplc.RegularOp {
	var rot []string
	for _, k := range []string{recoveryKey, p.opts.RecoveryDIDKey, p.rotDIDKey} {
		if k != "" && !slices.Contains(rot, k) {
			rot = append(rot, k)
		}
	}
	return didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        rot,
		VerificationMethods: map[string]string{"atproto": signingKey},
		AlsoKnownAs:         []string{"at://" + handle},
		Services: map[string]didplc.OpService{
			"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: p.publicURL},
		},
	}
}

// Account returns a copy of an account's state; ok is false for an
// unknown DID.
func (p *PDS) Account(did string) (acct Account, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[did]
	if a == nil {
		return Account{}, false
	}
	return a.clone(), true
}

// Modify runs fn on an account's live state under the PDS's lock (DID and
// SigningKey are restored afterwards); fn must not call the PDS. It fails
// the test for an unknown DID.
func (p *PDS) Modify(did string, fn func(*Account)) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[did]
	if a == nil {
		p.t.Fatalf("fakenet: no account %s", did)
		return
	}
	fn(&a.Account)
	a.DID = did
	pub, _ := a.signing.PublicKey()
	a.SigningKey = pub.DIDKey()
	if a.ExpectedBlobs == nil {
		a.ExpectedBlobs = map[string]string{}
	}
	if a.Blobs == nil {
		a.Blobs = map[string]Blob{}
	}
}

// SetCommit sets the account's repo head, as an import would.
func (p *PDS) SetCommit(did, cid, rev string) {
	p.t.Helper()
	p.Modify(did, func(a *Account) { a.CommitCID, a.Rev = cid, rev })
}

// SetActive activates or deactivates the account directly.
func (p *PDS) SetActive(did string, active bool) {
	p.t.Helper()
	p.Modify(did, func(a *Account) { a.Deactivated = !active })
}

// AddBlob stores a blob for the account and returns its CID.
func (p *PDS) AddBlob(did string, data []byte, mimeType string) string {
	p.t.Helper()
	c := BlobCID(data)
	p.Modify(did, func(a *Account) { a.Blobs[c] = Blob{Data: slices.Clone(data), MimeType: mimeType} })
	return c
}

// ExpectBlob records that a record of the account references blob cid
// (so listMissingBlobs lists it until it is stored).
func (p *PDS) ExpectBlob(did, cid, recordURI string) {
	p.t.Helper()
	p.Modify(did, func(a *Account) { a.ExpectedBlobs[cid] = recordURI })
}

// accountByLocked finds an account by DID, handle or email
// (case-insensitive), deactivated ones included.
func (p *PDS) accountByLocked(identifier string) *account {
	id := strings.ToLower(identifier)
	if a := p.accounts[identifier]; a != nil {
		return a
	}
	for _, did := range sortedKeys(p.accounts) {
		a := p.accounts[did]
		if strings.Contains(id, "@") {
			if strings.ToLower(a.Email) == id {
				return a
			}
		} else if a.Handle == id {
			return a
		}
	}
	return nil
}

// activeByHandleLocked is getAccount(handle) without deactivated accounts.
func (p *PDS) activeByHandleLocked(handle string) *account {
	for _, did := range sortedKeys(p.accounts) {
		if a := p.accounts[did]; a.Handle == handle && !a.Deactivated {
			return a
		}
	}
	return nil
}

// Session tokens.

type jwtHeader struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
}

type sessionClaims struct {
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Jti   string `json:"jti,omitempty"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// issueLocked makes an access/refresh pair like the reference PDS
// (HS256; access typ at+jwt, 2 h; refresh typ refresh+jwt, 90 days).
func (p *PDS) issueLocked(did, scope, appPass string) (access, refresh string) {
	now := time.Now()
	access = hs256JWT(p.secret, jwtHeader{Typ: "at+jwt", Alg: "HS256"}, sessionClaims{
		Scope: scope, Aud: p.serviceDID, Sub: did, Jti: randomHex(8), Iat: now.Unix(), Exp: now.Add(2 * time.Hour).Unix(),
	})
	refresh = hs256JWT(p.secret, jwtHeader{Typ: "refresh+jwt", Alg: "HS256"}, sessionClaims{
		Scope: scopeRefresh, Aud: p.serviceDID, Sub: did, Jti: randomHex(16), Iat: now.Unix(), Exp: now.Add(90 * 24 * time.Hour).Unix(),
	})
	p.tokens[access] = &token{did: did, scope: scope, appPass: appPass}
	p.tokens[refresh] = &token{did: did, scope: scope, refresh: true, appPass: appPass}
	return access, refresh
}
