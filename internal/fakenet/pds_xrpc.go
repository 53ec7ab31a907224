package fakenet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/repo"
	"github.com/did-method-plc/go-didplc/didplc"
)

type route struct {
	post bool
	h    func(w http.ResponseWriter, r *http.Request) error
}

func (p *PDS) buildRoutes() map[string]route {
	q := func(h func(http.ResponseWriter, *http.Request) error) route { return route{h: h} }
	proc := func(h func(http.ResponseWriter, *http.Request) error) route { return route{post: true, h: h} }
	return map[string]route{
		"com.atproto.server.describeServer":                 q(p.describeServer),
		"com.atproto.server.createSession":                  proc(p.createSession),
		"com.atproto.server.getSession":                     q(p.getSession),
		"com.atproto.server.refreshSession":                 proc(p.refreshSession),
		"com.atproto.server.createAppPassword":              proc(p.createAppPassword),
		"com.atproto.server.getServiceAuth":                 q(p.getServiceAuth),
		"com.atproto.server.createAccount":                  proc(p.createAccount),
		"com.atproto.server.checkAccountStatus":             q(p.checkAccountStatus),
		"com.atproto.server.activateAccount":                proc(p.activateAccount),
		"com.atproto.server.deactivateAccount":              proc(p.deactivateAccount),
		"com.atproto.server.createInviteCode":               proc(p.createInviteCode),
		"com.atproto.identity.resolveHandle":                q(p.resolveHandle),
		"com.atproto.identity.getRecommendedDidCredentials": q(p.getRecommendedDidCredentials),
		"com.atproto.identity.submitPlcOperation":           proc(p.submitPlcOperation),
		"com.atproto.identity.requestPlcOperationSignature": proc(p.requestPlcOperationSignature),
		"com.atproto.identity.signPlcOperation":             proc(p.signPlcOperation),
		"com.atproto.sync.getRepoStatus":                    q(p.getRepoStatus),
		"com.atproto.sync.getLatestCommit":                  q(p.getLatestCommit),
		"com.atproto.sync.getRepo":                          q(p.getRepo),
		"com.atproto.sync.getBlocks":                        q(p.getBlocks),
		"com.atproto.sync.listBlobs":                        q(p.listBlobs),
		"com.atproto.sync.getBlob":                          q(p.getBlob),
		"com.atproto.repo.importRepo":                       proc(p.importRepo),
		"com.atproto.repo.uploadBlob":                       proc(p.uploadBlob),
		"com.atproto.repo.listMissingBlobs":                 q(p.listMissingBlobs),
		"com.atproto.repo.applyWrites":                      proc(p.applyWrites),
		"com.atproto.repo.getRecord":                        q(p.getRecord),
		"app.bsky.actor.getPreferences":                     q(p.getPreferences),
		"app.bsky.actor.putPreferences":                     proc(p.putPreferences),
	}
}

func (p *PDS) serve(w http.ResponseWriter, r *http.Request) {
	nsid, isXRPC := strings.CutPrefix(r.URL.Path, "/xrpc/")
	key := nsid
	if !isXRPC {
		key = r.URL.Path
	}
	dropped, failure, lose := p.sw.intercept(w, key)
	switch {
	case dropped:
	case failure != nil:
		writeXRPCError(w, failure)
	case lose:
		serveThenDrop(w, r, func(w http.ResponseWriter, r *http.Request) { p.dispatch(w, r, nsid, isXRPC) })
	default:
		p.dispatch(w, r, nsid, isXRPC)
	}
}

func (p *PDS) dispatch(w http.ResponseWriter, r *http.Request, nsid string, isXRPC bool) {
	if !isXRPC {
		if r.URL.Path == "/.well-known/did.json" && strings.HasPrefix(p.serviceDID, "did:web:") {
			writeJSON(w, http.StatusOK, map[string]any{
				"@context": []string{"https://www.w3.org/ns/did/v1"},
				"id":       p.serviceDID,
				"service": []legacyService{{
					ID: "#atproto_pds", Type: "AtprotoPersonalDataServer", ServiceEndpoint: p.publicURL,
				}},
			})
			return
		}
		http.NotFound(w, r)
		return
	}
	if nsid == "_health" {
		writeJSON(w, http.StatusOK, map[string]string{"version": "fakenet"})
		return
	}
	rt, ok := p.routes[nsid]
	if !ok {
		writeXRPCError(w, &XRPCError{Status: http.StatusNotImplemented, Name: "MethodNotImplemented", Message: "Method Not Implemented"})
		return
	}
	want := http.MethodGet
	if rt.post {
		want = http.MethodPost
	}
	if r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
		writeXRPCError(w, invalidRequest(fmt.Sprintf("Incorrect HTTP method (%s) expected %s", r.Method, want)))
		return
	}
	if err := rt.h(w, r); err != nil {
		writeXRPCError(w, err)
	}
}

// Input and parameter helpers.

func decodeInput(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return invalidRequest("could not read request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidRequest("Invalid JSON input: " + err.Error())
	}
	return nil
}

func missingInput(name string) error {
	return invalidRequest(fmt.Sprintf("Input must have the property %q", name))
}

func requiredParam(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", invalidRequest(fmt.Sprintf("Error: Params must have the property %q", name))
	}
	return v, nil
}

func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 500, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, invalidRequest("Error: limit must be an integer between 1 and 1000")
	}
	return n, nil
}

// pageParams reads a list method's limit and cursor params.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	limit, err = limitParam(r)
	if err != nil {
		return 0, "", err
	}
	return limit, r.URL.Query().Get("cursor"), nil
}

// pageAfter is one page of sorted keys: at most limit of those after
// cursor (never nil, so it encodes as []).
func pageAfter(keys []string, cursor string, limit int) []string {
	page := []string{}
	for _, k := range keys {
		if k > cursor && len(page) < limit {
			page = append(page, k)
		}
	}
	return page
}

// pageOut is a list answer: items under name, and the page's last key as
// the cursor unless the page is empty.
func pageOut(name string, items any, page []string) map[string]any {
	out := map[string]any{name: items}
	if len(page) > 0 {
		out["cursor"] = page[len(page)-1]
	}
	return out
}

// writeOK answers 200 with no body.
func writeOK(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// writeOKJSON answers 200 with v as JSON.
func writeOKJSON(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}

// writeBytes answers 200 with body b as contentType.
func writeBytes(w http.ResponseWriter, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// Authentication.

// caller is who a request authenticated as.
type caller struct {
	did   string
	scope string
	admin bool
}

func (c *caller) isUserOrAdmin(did string) bool { return c != nil && (c.admin || c.did == did) }

func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", authRequired("AuthMissing", "")
	}
	typ, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(typ, "Bearer") {
		return "", namedInvalid("InvalidToken", "Unexpected authorization type")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", namedInvalid("InvalidToken", "Malformed authorization header")
	}
	return tok, nil
}

// authAccess checks an access token whose scope must be one of scopes.
func (p *PDS) authAccess(r *http.Request, scopes []string) (*caller, error) {
	tok, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tk := p.tokens[tok]
	switch {
	case tk == nil:
		return nil, namedInvalid("InvalidToken", "Token could not be verified")
	case tk.refresh:
		return nil, namedInvalid("InvalidToken", "Invalid token type")
	case tk.expired:
		return nil, namedInvalid("ExpiredToken", "Token has expired")
	case !slices.Contains(scopes, tk.scope):
		return nil, namedInvalid("InvalidToken", "Bad token scope")
	}
	return &caller{did: tk.did, scope: tk.scope}, nil
}

// authOptional is authorizationOrAdminTokenOptional: nothing is fine, a
// bearer must be valid, Basic must be the admin.
func (p *PDS) authOptional(r *http.Request) (*caller, error) {
	h := r.Header.Get("Authorization")
	typ, _, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return nil, nil
	case strings.EqualFold(typ, "Bearer"):
		return p.authAccess(r, accessStandard)
	case strings.EqualFold(typ, "Basic"):
		return p.authAdmin(r)
	}
	return nil, nil
}

func (p *PDS) authAdmin(r *http.Request) (*caller, error) {
	user, pw, ok := r.BasicAuth()
	if !ok || user != "admin" || p.opts.AdminPassword == "" || pw != p.opts.AdminPassword {
		return nil, authRequired("", "")
	}
	return &caller{admin: true}, nil
}

// userAccountLocked returns the live account of an authenticated user;
// the lock must be held.
func (p *PDS) userAccountLocked(did string) (*account, error) {
	a := p.accounts[did]
	if a == nil {
		return nil, invalidRequest("Could not find user info for account: " + did)
	}
	return a, nil
}

// withAccount runs fn on the caller's live account under the lock (held
// until fn returns).
func (p *PDS) withAccount(c *caller, fn func(a *account) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, err := p.userAccountLocked(c.did)
	if err != nil {
		return err
	}
	return fn(a)
}

// authedInput authenticates an access token of one of scopes, then
// decodes the JSON input into in.
func (p *PDS) authedInput(r *http.Request, scopes []string, in any) (*caller, error) {
	c, err := p.authAccess(r, scopes)
	if err != nil {
		return nil, err
	}
	if err := decodeInput(r, in); err != nil {
		return nil, err
	}
	return c, nil
}

// authedBody authenticates an access token of one of scopes, then reads
// the raw input.
func (p *PDS) authedBody(r *http.Request, scopes []string) (*caller, []byte, error) {
	c, err := p.authAccess(r, scopes)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, invalidRequest("could not read request body")
	}
	return c, body, nil
}

// withAuthedAccount authenticates an access token of one of scopes, then
// runs fn on the caller's live account under the lock.
func (p *PDS) withAuthedAccount(r *http.Request, scopes []string, fn func(a *account) error) error {
	c, err := p.authAccess(r, scopes)
	if err != nil {
		return err
	}
	return p.withAccount(c, fn)
}

// repoAvailableLocked is the reference PDS's assertRepoAvailability.
func (p *PDS) repoAvailableLocked(handleOrDID string, c *caller) (*account, error) {
	var a *account
	if strings.HasPrefix(handleOrDID, "did:") {
		a = p.accounts[handleOrDID]
	} else {
		for _, did := range sortedKeys(p.accounts) {
			if p.accounts[did].Handle == strings.ToLower(handleOrDID) {
				a = p.accounts[did]
				break
			}
		}
	}
	if a == nil {
		return nil, namedInvalid("RepoNotFound", "Could not find repo for DID: "+handleOrDID)
	}
	if !c.isUserOrAdmin(a.DID) && a.Deactivated {
		return nil, namedInvalid("RepoDeactivated", "Repo has been deactivated: "+handleOrDID)
	}
	return a, nil
}

// withRepo runs fn, under the lock, on the account whose repo c may read.
func (p *PDS) withRepo(handleOrDID string, c *caller, fn func(a *account) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, err := p.repoAvailableLocked(handleOrDID, c)
	if err != nil {
		return err
	}
	return fn(a)
}

// repoRequest starts a com.atproto.sync read: the optional caller, then
// the required did param.
func (p *PDS) repoRequest(r *http.Request) (*caller, string, error) {
	c, err := p.authOptional(r)
	if err != nil {
		return nil, "", err
	}
	did, err := requiredParam(r, "did")
	if err != nil {
		return nil, "", err
	}
	return c, did, nil
}

// Talking to the PLC over HTTP, as the real PDS does.

func (p *PDS) plcURL(did string) (string, error) {
	if p.plc == nil {
		return "", errors.New("fakenet: PDS has no PLC")
	}
	return p.plc.URL + "/" + url.PathEscape(did), nil
}

// plcAnswer reads and closes a PLC answer: a non-200 is a *PLCError, a
// 200 body is decoded into v (or discarded when v is nil).
func plcAnswer(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &PLCError{Status: resp.StatusCode, Message: plcMessage(resp.Body)}
	}
	if v == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// plcGet fetches GET /{did}{suffix} as a T; a non-200 answer is a
// *PLCError.
func plcGet[T any](p *PDS, did, suffix string) (*T, error) {
	u, err := p.plcURL(did)
	if err != nil {
		return nil, err
	}
	resp, err := p.hc.Get(u + suffix)
	if err != nil {
		return nil, err
	}
	var v T
	if err := plcAnswer(resp, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// plcData fetches GET /{did}/data; a non-200 answer is a *PLCError.
func (p *PDS) plcData(did string) (*plcDocData, error) { return plcGet[plcDocData](p, did, "/data") }

// plcLastOp fetches GET /{did}/log/last.
func (p *PDS) plcLastOp(did string) (*didplc.OpEnum, error) {
	return plcGet[didplc.OpEnum](p, did, "/log/last")
}

// plcSubmit posts an operation; a refusal is a *PLCError.
func (p *PDS) plcSubmit(did string, op []byte) error {
	u, err := p.plcURL(did)
	if err != nil {
		return err
	}
	resp, err := p.hc.Post(u, "application/json", bytes.NewReader(op))
	if err != nil {
		return err
	}
	return plcAnswer(resp, nil)
}

func plcMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(b))
}

// didDocProblem is the reference PDS's assertValidDidDocumentForService
// for a did:plc (other DIDs are not checked). A failure to read the PLC is
// returned as a plain error.
func (p *PDS) didDocProblem(did, signingKey string) error {
	if !strings.HasPrefix(did, "did:plc:") {
		return nil
	}
	data, err := p.plcData(did)
	if err != nil {
		return err
	}
	if !slices.Contains(data.RotationKeys, p.rotDIDKey) {
		return invalidRequest("Server rotation key not included in PLC DID data")
	}
	if ep := data.Services["atproto_pds"].Endpoint; ep == "" || ep != p.publicURL {
		return invalidRequest("DID document atproto_pds service endpoint does not match PDS public url")
	}
	if vm := data.VerificationMethods["atproto"]; vm == "" || vm != signingKey {
		return invalidRequest("DID document verification method does not match expected signing key")
	}
	return nil
}

// com.atproto.server.*

// userDomains is availableUserDomains, by default [".test"].
func (p *PDS) userDomains() []string {
	if len(p.opts.UserDomains) == 0 {
		return []string{".test"}
	}
	return p.opts.UserDomains
}

func (p *PDS) describeServer(w http.ResponseWriter, r *http.Request) error {
	out := map[string]any{
		"did":                  p.serviceDID,
		"availableUserDomains": p.userDomains(),
		"inviteCodeRequired":   p.opts.InviteCodeRequired,
		"links":                map[string]any{},
		"contact":              map[string]any{},
	}
	if p.opts.BlobUploadLimit > 0 {
		out["blobUploadLimit"] = p.opts.BlobUploadLimit
	}
	return writeOKJSON(w, out)
}

type sessionOut struct {
	AccessJwt      string `json:"accessJwt,omitempty"`
	RefreshJwt     string `json:"refreshJwt,omitempty"`
	DID            string `json:"did"`
	Handle         string `json:"handle"`
	Email          string `json:"email,omitempty"`
	EmailConfirmed bool   `json:"emailConfirmed"`
	Active         bool   `json:"active"`
	Status         string `json:"status,omitempty"`
}

func sessionOf(a *account) sessionOut {
	s := sessionOut{DID: a.DID, Handle: a.Handle, Email: a.Email, EmailConfirmed: a.EmailConfirmed, Active: !a.Deactivated}
	if s.Handle == "" {
		s.Handle = "handle.invalid"
	}
	if a.Deactivated {
		s.Status = "deactivated"
	}
	return s
}

func (p *PDS) createSession(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Identifier      string `json:"identifier"`
		Password        string `json:"password"`
		AuthFactorToken string `json:"authFactorToken"`
	}
	if err := decodeInput(r, &in); err != nil {
		return err
	}
	if in.Identifier == "" {
		return missingInput("identifier")
	}
	if in.Password == "" {
		return missingInput("password")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accountByLocked(in.Identifier)
	if a == nil {
		return authRequired("", "Invalid identifier or password")
	}
	scope, appPass := "", ""
	if a.Password != "" && in.Password == a.Password {
		scope = ScopeAccess
	} else {
		for _, ap := range a.AppPasswords {
			if ap.Password == in.Password {
				scope, appPass = ScopeAppPass, ap.Name
				if ap.Privileged {
					scope = ScopeAppPassPrivileged
				}
				break
			}
		}
	}
	if scope == "" {
		return authRequired("", "Invalid identifier or password")
	}
	if scope == ScopeAccess && a.AuthFactorToken != "" {
		if in.AuthFactorToken == "" {
			return authRequired("AuthFactorTokenRequired", "A sign in code has been sent to your email address")
		}
		if in.AuthFactorToken != a.AuthFactorToken {
			return namedInvalid("InvalidToken", "Token is invalid")
		}
	}
	out := sessionOf(a)
	out.AccessJwt, out.RefreshJwt = p.issueLocked(a.DID, scope, appPass)
	return writeOKJSON(w, out)
}

func (p *PDS) getSession(w http.ResponseWriter, r *http.Request) error {
	return p.withAuthedAccount(r, accessStandard, func(a *account) error {
		return writeOKJSON(w, sessionOf(a))
	})
}

func (p *PDS) refreshSession(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearerToken(r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tk := p.tokens[tok]
	switch {
	case tk == nil:
		return namedInvalid("InvalidToken", "Token could not be verified")
	case !tk.refresh:
		return namedInvalid("InvalidToken", "Invalid token type")
	case tk.revoked:
		return namedInvalid("ExpiredToken", "Token has been revoked")
	}
	a, err := p.userAccountLocked(tk.did)
	if err != nil {
		return err
	}
	tk.revoked = true
	out := sessionOf(a)
	out.AccessJwt, out.RefreshJwt = p.issueLocked(a.DID, tk.scope, tk.appPass)
	return writeOKJSON(w, out)
}

func (p *PDS) createAppPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name       string `json:"name"`
		Privileged bool   `json:"privileged"`
	}
	c, err := p.authedInput(r, accessFull, &in)
	if err != nil {
		return err
	}
	if in.Name == "" {
		return missingInput("name")
	}
	return p.withAccount(c, func(a *account) error {
		if slices.ContainsFunc(a.AppPasswords, func(ap AppPassword) bool { return ap.Name == in.Name }) {
			return invalidRequest("could not create app-specific password")
		}
		s := randomBase32(16)
		ap := AppPassword{
			Name:       in.Name,
			Password:   s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16],
			Privileged: in.Privileged,
			CreatedAt:  isoTime(time.Now()),
		}
		a.AppPasswords = append(a.AppPasswords, ap)
		return writeOKJSON(w, map[string]any{
			"name": ap.Name, "password": ap.Password, "createdAt": ap.CreatedAt, "privileged": ap.Privileged,
		})
	})
}

// protectedMethods may never be the lxm of a service-auth token.
var protectedMethods = []string{
	"com.atproto.admin.sendEmail",
	"com.atproto.identity.requestPlcOperationSignature",
	"com.atproto.identity.signPlcOperation",
	"com.atproto.identity.updateHandle",
	"com.atproto.server.activateAccount",
	"com.atproto.server.confirmEmail",
	"com.atproto.server.createAppPassword",
	"com.atproto.server.deactivateAccount",
	"com.atproto.server.getAccountInviteCodes",
	"com.atproto.server.getSession",
	"com.atproto.server.listAppPasswords",
	"com.atproto.server.requestAccountDelete",
	"com.atproto.server.requestEmailConfirmation",
	"com.atproto.server.requestEmailUpdate",
	"com.atproto.server.revokeAppPassword",
	"com.atproto.server.updateEmail",
}

const createAccountNSID = "com.atproto.server.createAccount"

type serviceClaims struct {
	Iat int64  `json:"iat"`
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Lxm string `json:"lxm,omitempty"`
	Jti string `json:"jti"`
}

func jwtAlg(k any) string {
	switch k.(type) {
	case *atcrypto.PrivateKeyP256, *atcrypto.PublicKeyP256:
		return "ES256"
	}
	return "ES256K"
}

func (p *PDS) getServiceAuth(w http.ResponseWriter, r *http.Request) error {
	c, err := p.authAccess(r, accessStandard)
	if err != nil {
		return err
	}
	aud, err := requiredParam(r, "aud")
	if err != nil {
		return err
	}
	lxm := r.URL.Query().Get("lxm")
	now := time.Now()
	exp := now.Add(time.Minute).Unix()
	if lxm == createAccountNSID && c.scope != ScopeAccess && c.scope != ScopeAppPassPrivileged {
		return invalidRequest("insufficient access to request a service auth token for the following method: " + lxm)
	}
	if s := r.URL.Query().Get("exp"); s != "" {
		e, perr := strconv.ParseInt(s, 10, 64)
		if perr != nil {
			return invalidRequest("Error: exp must be an integer")
		}
		diff := time.Unix(e, 0).Sub(now)
		switch {
		case diff < 0:
			return namedInvalid("BadExpiration", "expiration is in past")
		case diff > time.Hour:
			return namedInvalid("BadExpiration", "cannot request a token with an expiration more than an hour in the future")
		case lxm == "" && diff > time.Minute:
			return namedInvalid("BadExpiration", "cannot request a method-less token with an expiration more than a minute in the future")
		}
		exp = e
	}
	if slices.Contains(protectedMethods, lxm) {
		return invalidRequest("cannot request a service auth token for the following protected method: " + lxm)
	}
	var key atcrypto.PrivateKey
	if err := p.withAccount(c, func(a *account) error { key = a.signing; return nil }); err != nil {
		return err
	}
	signing := jwtSigningInput(
		jwtHeader{Typ: "JWT", Alg: jwtAlg(key)},
		serviceClaims{Iat: now.Unix(), Iss: c.did, Aud: aud, Exp: exp, Lxm: lxm, Jti: randomHex(16)},
	)
	sig, serr := key.HashAndSign([]byte(signing))
	if serr != nil {
		return serr
	}
	return writeOKJSON(w, map[string]string{"token": signing + "." + b64.EncodeToString(sig)})
}

// verifyServiceAuth checks a service-auth bearer for method lxm the way
// the reference PDS does (xrpc-server's verifyJwt, then the audience) and
// returns its issuer. The signature is checked against the issuer's
// atproto key on the PLC for a did:plc; other DIDs are not resolved and
// their signature is not checked.
func (p *PDS) verifyServiceAuth(tok, lxm string) (string, error) {
	j, err := parseJWT(tok)
	if err != nil {
		return "", authRequired("BadJwt", "poorly formatted jwt")
	}
	if typ, _ := j.header["typ"].(string); typ == "at+jwt" || typ == "refresh+jwt" || typ == "dpop+jwt" {
		return "", authRequired("BadJwtType", fmt.Sprintf("Invalid jwt type %q", typ))
	}
	exp, okExp := j.payload["exp"].(float64)
	_, okAud := j.payload["aud"].(string)
	if !okExp || !okAud {
		return "", authRequired("BadJwt", "poorly formatted jwt")
	}
	if float64(time.Now().Unix()) > exp {
		return "", authRequired("JwtExpired", "jwt expired")
	}
	if got, ok := j.payload["lxm"].(string); !ok {
		return "", authRequired("BadJwtLexiconMethod", fmt.Sprintf(`missing jwt lexicon method ("lxm"). must match: %s`, lxm))
	} else if got != lxm {
		return "", authRequired("BadJwtLexiconMethod", fmt.Sprintf(`bad jwt lexicon method ("lxm"). must match: %s`, lxm))
	}
	iss := j.claim("iss")
	if !strings.HasPrefix(iss, "did:") {
		return "", authRequired("BadJwtIss", "jwt iss is not a valid did")
	}
	did, _, _ := strings.Cut(iss, "#")
	if strings.HasPrefix(did, "did:plc:") {
		data, err := p.plcData(did)
		if err != nil {
			return "", authRequired("", "could not resolve iss did")
		}
		pub, err := atcrypto.ParsePublicDIDKey(data.VerificationMethods["atproto"])
		if err != nil {
			return "", authRequired("", "missing or bad key in did doc")
		}
		alg, _ := j.header["alg"].(string)
		if alg != jwtAlg(pub) {
			return "", authRequired("BadJwtSignature", "could not verify jwt signature")
		}
		if pub.HashAndVerify([]byte(j.signing), j.signature) != nil {
			return "", authRequired("BadJwtSignature", "jwt signature does not match jwt issuer")
		}
	}
	if j.claim("aud") != p.serviceDID {
		return "", authRequired("BadJwtAudience", "jwt audience does not match service did")
	}
	return iss, nil
}

func (p *PDS) handleDomain(handle string) bool {
	for _, d := range p.userDomains() {
		if strings.HasSuffix(handle, d) || handle == strings.TrimPrefix(d, ".") {
			return true
		}
	}
	return false
}

type createAccountOut struct {
	Handle     string `json:"handle"`
	DID        string `json:"did"`
	DIDDoc     any    `json:"didDoc,omitempty"`
	AccessJwt  string `json:"accessJwt"`
	RefreshJwt string `json:"refreshJwt"`
}

func (p *PDS) createAccount(w http.ResponseWriter, r *http.Request) error {
	requester := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if typ, _, _ := strings.Cut(h, " "); strings.EqualFold(typ, "Bearer") {
			tok, err := bearerToken(r)
			if err != nil {
				return err
			}
			iss, err := p.verifyServiceAuth(tok, createAccountNSID)
			if err != nil {
				return err
			}
			requester = iss
		}
	}
	var in struct {
		Email       string          `json:"email"`
		Handle      string          `json:"handle"`
		DID         string          `json:"did"`
		InviteCode  string          `json:"inviteCode"`
		Password    string          `json:"password"`
		RecoveryKey string          `json:"recoveryKey"`
		PlcOp       json.RawMessage `json:"plcOp"`
	}
	if err := decodeInput(r, &in); err != nil {
		return err
	}
	if len(in.PlcOp) > 0 && string(in.PlcOp) != "null" {
		return invalidRequest(`Unsupported input: "plcOp"`)
	}
	if in.Handle == "" {
		return missingInput("handle")
	}
	if p.opts.InviteCodeRequired && in.InviteCode == "" {
		return namedInvalid("InvalidInviteCode", "No invite code provided")
	}
	if in.Email == "" {
		return invalidRequest("Email is required")
	}
	handle := strings.ToLower(in.Handle)
	if !strings.Contains(handle, ".") || strings.HasPrefix(handle, ".") || strings.HasSuffix(handle, ".") {
		return namedInvalid("InvalidHandle", "Handle domain needs at least two parts")
	}
	if in.DID == "" && !p.handleDomain(handle) {
		return namedInvalid("UnsupportedDomain", "Not a supported handle domain")
	}

	p.mu.Lock()
	if p.opts.InviteCodeRequired && !p.invites[in.InviteCode] {
		p.mu.Unlock()
		return namedInvalid("InvalidInviteCode", "Provided invite code not available")
	}
	if p.activeByHandleLocked(handle) != nil {
		p.mu.Unlock()
		return invalidRequest("Handle already taken: " + handle)
	}
	for _, did := range sortedKeys(p.accounts) {
		if a := p.accounts[did]; !a.Deactivated && strings.EqualFold(a.Email, in.Email) {
			p.mu.Unlock()
			return invalidRequest("Email already taken: " + in.Email)
		}
	}
	p.mu.Unlock()

	signing, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return err
	}
	pub, _ := signing.PublicKey()
	did := in.DID
	if did != "" {
		if did != requester {
			return authRequired("", "Missing auth to create account with did: "+did)
		}
	} else {
		op := p.genesisFor(in.RecoveryKey, pub.DIDKey(), handle)
		if err := op.Sign(p.rotation); err != nil {
			return err
		}
		if did, err = op.DID(); err != nil {
			return err
		}
		raw, _ := json.Marshal(&op)
		if err := p.plcSubmit(did, raw); err != nil {
			return internalError()
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accounts[did] != nil {
		return namedInvalid("AlreadyExists", "Repo already exists")
	}
	for _, a := range p.accounts {
		// The reference PDS's pre-checks skip deactivated accounts; the
		// database insert then fails.
		if a.Handle == handle || strings.EqualFold(a.Email, in.Email) {
			return internalError()
		}
	}
	if p.opts.InviteCodeRequired {
		delete(p.invites, in.InviteCode)
	}
	a := &account{signing: signing}
	rev := p.tids.Next().String()
	a.Account = Account{
		DID:           did,
		Handle:        handle,
		Email:         in.Email,
		Password:      in.Password,
		Deactivated:   in.DID != "",
		CommitCID:     fakeCommitCID(did + rev),
		Rev:           rev,
		RepoBlocks:    1,
		ExpectedBlobs: map[string]string{},
		Blobs:         map[string]Blob{},
		SigningKey:    pub.DIDKey(),
	}
	p.accounts[did] = a
	out := createAccountOut{Handle: handle, DID: did}
	if p.plc != nil && strings.HasPrefix(did, "did:plc:") {
		if op, err := p.plc.Data(did); err == nil {
			if doc, err := formatDidDoc(did, op); err == nil {
				out.DIDDoc = doc
			}
		}
	}
	out.AccessJwt, out.RefreshJwt = p.issueLocked(did, ScopeAccess, "")
	return writeOKJSON(w, out)
}

func (p *PDS) checkAccountStatus(w http.ResponseWriter, r *http.Request) error {
	var snap Account
	if err := p.withAuthedAccount(r, accessStandard, func(a *account) error { snap = a.clone(); return nil }); err != nil {
		return err
	}
	imported := int64(len(snap.Blobs))
	return writeOKJSON(w, map[string]any{
		"activated":          !snap.Deactivated,
		"validDid":           p.didDocProblem(snap.DID, snap.SigningKey) == nil,
		"repoCommit":         snap.CommitCID,
		"repoRev":            snap.Rev,
		"repoBlocks":         snap.RepoBlocks,
		"indexedRecords":     snap.IndexedRecords,
		"privateStateValues": 0,
		"expectedBlobs":      int64(len(snap.ExpectedBlobs)),
		"importedBlobs":      imported,
	})
}

func (p *PDS) activateAccount(w http.ResponseWriter, r *http.Request) error {
	c, err := p.authAccess(r, accessFull)
	if err != nil {
		return err
	}
	signingKey := ""
	if err := p.withAccount(c, func(a *account) error { signingKey = a.SigningKey; return nil }); err != nil {
		return namedInvalid("AccountNotFound", "user not found")
	}
	if err := p.didDocProblem(c.did, signingKey); err != nil {
		var xe *XRPCError
		if errors.As(err, &xe) {
			return xe
		}
		return internalError()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.accounts[c.did]; a != nil {
		a.Deactivated = false
	}
	return writeOK(w)
}

func (p *PDS) deactivateAccount(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		DeleteAfter string `json:"deleteAfter"`
	}
	c, err := p.authedInput(r, accessFull, &in)
	if err != nil {
		return err
	}
	return p.withAccount(c, func(a *account) error {
		a.Deactivated = true
		return writeOK(w)
	})
}

func (p *PDS) createInviteCode(w http.ResponseWriter, r *http.Request) error {
	if _, err := p.authAdmin(r); err != nil {
		return err
	}
	var in struct {
		UseCount int `json:"useCount"`
	}
	if err := decodeInput(r, &in); err != nil {
		return err
	}
	if in.UseCount < 1 {
		return missingInput("useCount")
	}
	s := randomBase32(10)
	code := "fakenet-" + s[:5] + "-" + s[5:]
	p.mu.Lock()
	p.invites[code] = true
	p.mu.Unlock()
	return writeOKJSON(w, map[string]string{"code": code})
}

// com.atproto.identity.*

func (p *PDS) resolveHandle(w http.ResponseWriter, r *http.Request) error {
	handle, err := requiredParam(r, "handle")
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.activeByHandleLocked(strings.ToLower(handle))
	if a == nil {
		return invalidRequest("Unable to resolve handle")
	}
	return writeOKJSON(w, map[string]string{"did": a.DID})
}

// recommendedRotationKeys is [PDS_RECOVERY_DID_KEY, PDS rotation key].
func (p *PDS) recommendedRotationKeys() []string {
	if p.opts.RecoveryDIDKey != "" {
		return []string{p.opts.RecoveryDIDKey, p.rotDIDKey}
	}
	return []string{p.rotDIDKey}
}

func (p *PDS) getRecommendedDidCredentials(w http.ResponseWriter, r *http.Request) error {
	return p.withAuthedAccount(r, accessStandard, func(a *account) error {
		out := map[string]any{
			"verificationMethods": map[string]string{"atproto": a.SigningKey},
			"rotationKeys":        p.recommendedRotationKeys(),
			"services": map[string]any{
				"atproto_pds": map[string]string{"type": "AtprotoPersonalDataServer", "endpoint": p.publicURL},
			},
		}
		if a.Handle != "" {
			out["alsoKnownAs"] = []string{"at://" + a.Handle}
		}
		return writeOKJSON(w, out)
	})
}

func (p *PDS) submitPlcOperation(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Operation json.RawMessage `json:"operation"`
	}
	c, err := p.authedInput(r, accessStandard, &in)
	if err != nil {
		return err
	}
	var op didplc.RegularOp
	if !validOpShape(in.Operation) || json.Unmarshal(in.Operation, &op) != nil || op.Type != "plc_operation" {
		return invalidRequest("Invalid operation")
	}
	var signingKey, handle string
	if err := p.withAccount(c, func(a *account) error { signingKey, handle = a.SigningKey, a.Handle; return nil }); err != nil {
		return err
	}
	switch svc := op.Services["atproto_pds"]; {
	case !slices.Contains(op.RotationKeys, p.rotDIDKey):
		return invalidRequest("Rotation keys do not include server's rotation key")
	case svc.Type != "AtprotoPersonalDataServer":
		return invalidRequest("Incorrect type on atproto_pds service")
	case svc.Endpoint != p.publicURL:
		return invalidRequest("Incorrect endpoint on atproto_pds service")
	case op.VerificationMethods["atproto"] != signingKey:
		return invalidRequest("Incorrect signing key")
	case handle != "" && (len(op.AlsoKnownAs) == 0 || op.AlsoKnownAs[0] != "at://"+handle):
		return invalidRequest("Incorrect handle in alsoKnownAs")
	}
	if err := p.plcSubmit(c.did, in.Operation); err != nil {
		var pe *PLCError
		if errors.As(err, &pe) && pe.Status < 500 {
			return invalidRequest(pe.Message)
		}
		return internalError()
	}
	return writeOK(w)
}

func (p *PDS) requestPlcOperationSignature(w http.ResponseWriter, r *http.Request) error {
	c, err := p.authAccess(r, accessFull)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[c.did]
	if a == nil {
		return invalidRequest("account not found")
	}
	if a.Email == "" {
		return invalidRequest("account does not have an email address")
	}
	s := strings.ToUpper(randomBase32(10))
	a.plcToken = s[:5] + "-" + s[5:]
	return writeOK(w)
}

func (p *PDS) signPlcOperation(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token               string                       `json:"token"`
		RotationKeys        *[]string                    `json:"rotationKeys"`
		AlsoKnownAs         *[]string                    `json:"alsoKnownAs"`
		VerificationMethods *map[string]string           `json:"verificationMethods"`
		Services            *map[string]didplc.OpService `json:"services"`
	}
	c, err := p.authedInput(r, accessFull, &in)
	if err != nil {
		return err
	}
	if in.Token == "" {
		return invalidRequest("email confirmation token required to sign PLC operations")
	}
	p.mu.Lock()
	a := p.accounts[c.did]
	if a == nil || a.plcToken == "" || a.plcToken != strings.ToUpper(in.Token) {
		p.mu.Unlock()
		return namedInvalid("InvalidToken", "Token is invalid")
	}
	a.plcToken = ""
	p.mu.Unlock()
	last, err := p.plcLastOp(c.did)
	if err != nil {
		return internalError()
	}
	if last.Tombstone != nil || last.Regular == nil {
		return invalidRequest("Did is tombstoned")
	}
	op := cloneRegular(last.Regular)
	prev := last.Regular.CID().String()
	op.Type, op.Prev, op.Sig = "plc_operation", &prev, nil
	if in.RotationKeys != nil {
		op.RotationKeys = *in.RotationKeys
	}
	if in.AlsoKnownAs != nil {
		op.AlsoKnownAs = *in.AlsoKnownAs
	}
	if in.VerificationMethods != nil {
		op.VerificationMethods = *in.VerificationMethods
	}
	if in.Services != nil {
		op.Services = *in.Services
	}
	if err := op.Sign(p.rotation); err != nil {
		return err
	}
	return writeOKJSON(w, map[string]any{"operation": op})
}

// com.atproto.sync.*

func (p *PDS) getRepoStatus(w http.ResponseWriter, r *http.Request) error {
	did, err := requiredParam(r, "did")
	if err != nil {
		return err
	}
	if p.opts.UnknownRepo500 {
		p.mu.Lock()
		_, ok := p.accounts[did]
		p.mu.Unlock()
		if !ok {
			return &XRPCError{Status: http.StatusInternalServerError, Name: "InternalServerError", Message: "record not found"}
		}
	}
	return p.withRepo(did, &caller{admin: true}, func(a *account) error {
		out := map[string]any{"did": did, "active": !a.Deactivated}
		if a.Deactivated {
			out["status"] = "deactivated"
		} else if a.Rev != "" {
			out["rev"] = a.Rev
		}
		return writeOKJSON(w, out)
	})
}

func (p *PDS) getLatestCommit(w http.ResponseWriter, r *http.Request) error {
	c, did, err := p.repoRequest(r)
	if err != nil {
		return err
	}
	return p.withRepo(did, c, func(a *account) error {
		if a.CommitCID == "" {
			return namedInvalid("RepoNotFound", "Could not find root for DID: "+did)
		}
		return writeOKJSON(w, map[string]string{"cid": a.CommitCID, "rev": a.Rev})
	})
}

func (p *PDS) getRepo(w http.ResponseWriter, r *http.Request) error {
	c, did, err := p.repoRequest(r)
	if err != nil {
		return err
	}
	var car []byte
	if err := p.withRepo(did, c, func(a *account) error { car = a.RepoCAR; return nil }); err != nil {
		return err
	}
	if car == nil {
		return namedInvalid("RepoNotFound", "Could not find root for DID: "+did+" (fakenet: no RepoCAR set)")
	}
	writeBytes(w, "application/vnd.ipld.car", car)
	return nil
}

func (p *PDS) listBlobs(w http.ResponseWriter, r *http.Request) error {
	c, did, err := p.repoRequest(r)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	return p.withRepo(did, c, func(a *account) error {
		cids := pageAfter(sortedKeys(a.Blobs), cursor, limit)
		return writeOKJSON(w, pageOut("cids", cids, cids))
	})
}

func (p *PDS) getBlob(w http.ResponseWriter, r *http.Request) error {
	c, did, err := p.repoRequest(r)
	if err != nil {
		return err
	}
	cid, err := requiredParam(r, "cid")
	if err != nil {
		return err
	}
	var blob Blob
	found := false
	if err := p.withRepo(did, c, func(a *account) error { blob, found = a.Blobs[cid]; return nil }); err != nil {
		return err
	}
	if !found {
		return invalidRequest("Blob not found")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", cid))
	writeBytes(w, orOctetStream(blob.MimeType), blob.Data)
	return nil
}

// orOctetStream is a blob's MIME type, application/octet-stream if none.
func orOctetStream(mimeType string) string {
	if mimeType == "" {
		return "application/octet-stream"
	}
	return mimeType
}

// com.atproto.repo.*

func (p *PDS) importRepo(w http.ResponseWriter, r *http.Request) error {
	c, body, err := p.authedBody(r, accessFull)
	if err != nil {
		return err
	}
	if p.opts.OnImport != nil {
		if err := p.opts.OnImport(c.did, body); err != nil {
			return err
		}
	}
	// Like the reference PDS: the head keeps the CAR's commit CID but gets
	// a rev of the PDS's own. A body that is not a repo CAR is accepted and
	// leaves the head alone.
	commit, root, perr := repo.LoadCommitFromCAR(context.Background(), bytes.NewReader(body))
	var refs map[string]string
	if p.opts.ExpectImportedBlobs {
		refs = blobRefsOf(c.did, body)
	}
	return p.withAccount(c, func(a *account) error {
		a.RepoCAR = body
		if len(refs) > 0 {
			// A copy: the map may be shared with another fake's account.
			a.ExpectedBlobs = maps.Clone(a.ExpectedBlobs)
			maps.Copy(a.ExpectedBlobs, refs)
		}
		if perr == nil && root != nil {
			a.CommitCID, a.Imported = root.String(), root.String()
			a.Rev = p.tids.Next().String()
			if p.opts.ResignImports {
				if err := p.resignLocked(a, commit); err != nil {
					return err
				}
			}
		}
		a.Imports++
		return writeOK(w)
	})
}

func (p *PDS) uploadBlob(w http.ResponseWriter, r *http.Request) error {
	c, data, err := p.authedBody(r, accessStandard)
	if err != nil {
		return err
	}
	if l := p.opts.BlobUploadLimit; l > 0 && int64(len(data)) > l {
		return &XRPCError{Status: http.StatusRequestEntityTooLarge, Name: "PayloadTooLarge", Message: "request entity too large"}
	}
	mt := orOctetStream(r.Header.Get("Content-Type"))
	cid := BlobCID(data)
	return p.withAccount(c, func(a *account) error {
		a.Blobs[cid] = Blob{Data: data, MimeType: mt}
		return writeOKJSON(w, map[string]any{"blob": map[string]any{
			"$type":    "blob",
			"ref":      map[string]string{"$link": cid},
			"mimeType": mt,
			"size":     len(data),
		}})
	})
}

func (p *PDS) listMissingBlobs(w http.ResponseWriter, r *http.Request) error {
	c, err := p.authAccess(r, accessStandard)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	type missing struct {
		CID       string `json:"cid"`
		RecordURI string `json:"recordUri"`
	}
	return p.withAccount(c, func(a *account) error {
		page := pageAfter(a.MissingBlobs(), cursor, limit)
		blobs := make([]missing, 0, len(page))
		for _, k := range page {
			blobs = append(blobs, missing{CID: k, RecordURI: a.ExpectedBlobs[k]})
		}
		return writeOKJSON(w, pageOut("blobs", blobs, page))
	})
}

// app.bsky.actor.*Preferences

func (p *PDS) getPreferences(w http.ResponseWriter, r *http.Request) error {
	return p.withAuthedAccount(r, accessStandard, func(a *account) error {
		prefs := a.Preferences
		if len(prefs) == 0 {
			prefs = json.RawMessage("[]")
		}
		return writeOKJSON(w, map[string]json.RawMessage{"preferences": prefs})
	})
}

func (p *PDS) putPreferences(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Preferences json.RawMessage `json:"preferences"`
	}
	c, err := p.authedInput(r, accessStandard, &in)
	if err != nil {
		return err
	}
	if firstByte(in.Preferences) != '[' {
		return missingInput("preferences")
	}
	return p.withAccount(c, func(a *account) error {
		a.Preferences = json.RawMessage(compactJSON(in.Preferences))
		return writeOK(w)
	})
}
