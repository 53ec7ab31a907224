package pds

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Session is the account state returned by createSession and getSession.
type Session struct {
	DID            string
	Handle         string
	Email          string
	EmailConfirmed bool
	// Active is false for a deactivated (or not yet activated) account.
	Active bool
	// Status is the server's reason when inactive ("deactivated", ...).
	Status string
	// Scope is the access token's scope claim: "com.atproto.access" for a
	// session opened with the account password, "com.atproto.appPass" or
	// "com.atproto.appPassPrivileged" for an app password.
	Scope string
}

// AppPassword reports whether the session was opened with an app password.
func (s *Session) AppPassword() bool {
	return strings.HasPrefix(s.Scope, "com.atproto.appPass")
}

// jwtScope reads the scope claim of a JWT without verifying it: the token
// came from the server we just logged in to, and the claim only decides
// what we refuse to do with it.
func jwtScope(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Scope string `json:"scope"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Scope
}

// sessionOutput is the shared shape of createSession, refreshSession,
// getSession and createAccount output.
type sessionOutput struct {
	AccessJwt      string `json:"accessJwt"`
	RefreshJwt     string `json:"refreshJwt"`
	DID            string `json:"did"`
	Handle         string `json:"handle"`
	Email          string `json:"email"`
	EmailConfirmed bool   `json:"emailConfirmed"`
	Active         *bool  `json:"active"`
	Status         string `json:"status"`
}

func (o *sessionOutput) session() *Session {
	s := &Session{DID: o.DID, Handle: o.Handle, Email: o.Email, EmailConfirmed: o.EmailConfirmed, Status: o.Status, Scope: jwtScope(o.AccessJwt)}
	// Older servers omit "active"; they only answer for active accounts.
	s.Active = o.Active == nil || *o.Active
	return s
}

// setTokens installs a new token pair (and the DID when known).
func (c *Client) setTokens(access, refresh, did string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access, c.refresh = access, refresh
	c.gen++
	if did != "" {
		c.did = did
	}
}

// Login creates a session with com.atproto.server.createSession. When the
// account has email 2FA the server answers 401 AuthFactorTokenRequired
// (an *APIError with that Name); call again with the emailed code.
func (c *Client) Login(ctx context.Context, identifier, password, authFactorToken string) (*Session, error) {
	const nsid = "com.atproto.server.createSession"
	in := struct {
		Identifier      string `json:"identifier"`
		Password        string `json:"password"`
		AuthFactorToken string `json:"authFactorToken,omitempty"`
	}{identifier, password, authFactorToken}
	r, err := jsonRequest(nsid, in)
	if err != nil {
		return nil, err
	}
	r.auth = authNone
	r.secrets = []string{password, authFactorToken}
	var out sessionOutput
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return nil, err
	}
	if out.AccessJwt == "" || out.RefreshJwt == "" {
		return nil, fmt.Errorf("%s at %s: response carries no tokens", nsid, c.host)
	}
	c.setTokens(out.AccessJwt, out.RefreshJwt, out.DID)
	return out.session(), nil
}

// GetSession returns the session's account state
// (com.atproto.server.getSession).
func (c *Client) GetSession(ctx context.Context) (*Session, error) {
	if !c.hasSession() {
		return nil, fmt.Errorf("com.atproto.server.getSession: %w", errNoSession)
	}
	var out sessionOutput
	if err := c.query(ctx, "com.atproto.server.getSession", nil, &out); err != nil {
		return nil, err
	}
	return out.session(), nil
}

func (c *Client) hasSession() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.access != ""
}

// refreshAfter refreshes the session unless the access token of generation
// gen has already been replaced by another goroutine meanwhile: concurrent
// requests that hit an expired token share one refresh.
func (c *Client) refreshAfter(ctx context.Context, gen uint64) error {
	select {
	case c.refreshSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("refresh session: %w", ctx.Err())
	}
	defer func() { <-c.refreshSem }()
	c.mu.RLock()
	current := c.gen
	c.mu.RUnlock()
	if current != gen {
		return nil
	}
	const nsid = "com.atproto.server.refreshSession"
	var out sessionOutput
	r := &request{post: true, nsid: nsid, auth: authRefresh}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return fmt.Errorf("refresh session: %w", err)
	}
	if out.AccessJwt == "" || out.RefreshJwt == "" {
		return fmt.Errorf("refresh session: %s at %s: response carries no tokens", nsid, c.host)
	}
	c.setTokens(out.AccessJwt, out.RefreshJwt, out.DID)
	return nil
}

// SetServiceAuth sets the bearer the next CreateAccount sends: a service
// token from the old PDS (GetServiceAuth with aud = the new PDS's DID and
// lxm = com.atproto.server.createAccount) proving the DID is ours.
func (c *Client) SetServiceAuth(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.service = token
}

// CreateAccountInput is the input of com.atproto.server.createAccount.
// Empty fields are left out; DID set means a migration (the account starts
// deactivated).
type CreateAccountInput struct {
	DID, Handle, Email, Password, InviteCode, RecoveryKey string
}

// CreateAccount creates the account (com.atproto.server.createAccount),
// authenticated by the SetServiceAuth token when one is set. On success
// the client holds the new account's session. It is not idempotent, so it
// is resent only when the server surely did not process it.
//
// The returned Session's Active is false when DID was given (a migrated
// account starts deactivated); call GetSession for the server's view.
func (c *Client) CreateAccount(ctx context.Context, in CreateAccountInput) (*Session, error) {
	const nsid = "com.atproto.server.createAccount"
	body := struct {
		DID         string `json:"did,omitempty"`
		Handle      string `json:"handle"`
		Email       string `json:"email,omitempty"`
		Password    string `json:"password,omitempty"`
		InviteCode  string `json:"inviteCode,omitempty"`
		RecoveryKey string `json:"recoveryKey,omitempty"`
	}{in.DID, in.Handle, in.Email, in.Password, in.InviteCode, in.RecoveryKey}
	r, err := jsonRequest(nsid, body)
	if err != nil {
		return nil, err
	}
	r.auth = authService
	r.unsafe = true
	r.secrets = []string{in.Password, in.InviteCode}
	var out sessionOutput
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return nil, err
	}
	if out.AccessJwt == "" || out.RefreshJwt == "" {
		return nil, fmt.Errorf("%s at %s: response carries no tokens", nsid, c.host)
	}
	c.setTokens(out.AccessJwt, out.RefreshJwt, out.DID)
	c.SetServiceAuth("")
	s := out.session()
	if s.Email == "" {
		s.Email = in.Email
	}
	if out.Active == nil {
		s.Active = in.DID == ""
	}
	return s, nil
}
