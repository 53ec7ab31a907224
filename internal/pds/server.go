package pds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// ServerInfo is the part of com.atproto.server.describeServer the
// migration needs.
type ServerInfo struct {
	DID                       string   `json:"did"`
	InviteCodeRequired        bool     `json:"inviteCodeRequired"`
	PhoneVerificationRequired bool     `json:"phoneVerificationRequired"`
	AvailableUserDomains      []string `json:"availableUserDomains"`
	// BlobUploadLimit is the largest blob uploadBlob accepts, in bytes;
	// 0 when the server does not say (PDS 0.4.x never does).
	BlobUploadLimit int64 `json:"blobUploadLimit,omitempty"`
}

// DescribeServer returns the server's DID and account-creation rules.
func (c *Client) DescribeServer(ctx context.Context) (*ServerInfo, error) {
	var out ServerInfo
	r := &request{nsid: "com.atproto.server.describeServer", auth: authNone}
	if err := c.do(ctx, r, decodeJSON(r.nsid, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetServiceAuth asks the PDS for a service token for audience aud (a DID),
// limited to method lxm when non-empty and valid for ttl when positive
// (the reference PDS caps it at one hour).
func (c *Client) GetServiceAuth(ctx context.Context, aud, lxm string, ttl time.Duration) (string, error) {
	q := url.Values{"aud": {aud}}
	if lxm != "" {
		q.Set("lxm", lxm)
	}
	if ttl > 0 {
		q.Set("exp", strconv.FormatInt(time.Now().Add(ttl).Unix(), 10))
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.query(ctx, "com.atproto.server.getServiceAuth", q, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("com.atproto.server.getServiceAuth at %s: empty token", c.host)
	}
	return out.Token, nil
}

// AccountStatus is com.atproto.server.checkAccountStatus output.
type AccountStatus struct {
	Activated          bool   `json:"activated"`
	ValidDid           bool   `json:"validDid"`
	RepoCommit         string `json:"repoCommit"`
	RepoRev            string `json:"repoRev"`
	RepoBlocks         int64  `json:"repoBlocks"`
	IndexedRecords     int64  `json:"indexedRecords"`
	PrivateStateValues int64  `json:"privateStateValues"`
	ExpectedBlobs      int64  `json:"expectedBlobs"`
	ImportedBlobs      int64  `json:"importedBlobs"`
}

// CheckAccountStatus reports the session account's import progress.
func (c *Client) CheckAccountStatus(ctx context.Context) (*AccountStatus, error) {
	var out AccountStatus
	if err := c.query(ctx, "com.atproto.server.checkAccountStatus", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ActivateAccount activates the session account
// (com.atproto.server.activateAccount); activating twice is harmless.
func (c *Client) ActivateAccount(ctx context.Context) error {
	return c.procedure(ctx, "com.atproto.server.activateAccount", nil, nil, false)
}

// DeactivateAccount deactivates the session account
// (com.atproto.server.deactivateAccount, body {}); idempotent.
func (c *Client) DeactivateAccount(ctx context.Context) error {
	return c.procedure(ctx, "com.atproto.server.deactivateAccount", struct{}{}, nil, false)
}

// CreateInviteCode creates an invite code with the PDS admin password
// (Basic admin:<password>). Not idempotent: a lost response is not resent.
func (c *Client) CreateInviteCode(ctx context.Context, adminPassword string, useCount int) (string, error) {
	const nsid = "com.atproto.server.createInviteCode"
	r, err := jsonRequest(nsid, map[string]int{"useCount": useCount})
	if err != nil {
		return "", err
	}
	r.auth = authAdmin
	r.adminPass = adminPassword
	r.unsafe = true
	var out struct {
		Code string `json:"code"`
	}
	if err := c.do(ctx, r, decodeJSON(nsid, &out)); err != nil {
		return "", err
	}
	if out.Code == "" {
		return "", fmt.Errorf("%s at %s: empty code", nsid, c.host)
	}
	return out.Code, nil
}

// ResolveHandle resolves handle to a DID through this PDS
// (com.atproto.identity.resolveHandle).
func (c *Client) ResolveHandle(ctx context.Context, handle string) (string, error) {
	var out struct {
		DID string `json:"did"`
	}
	r := &request{nsid: "com.atproto.identity.resolveHandle", query: url.Values{"handle": {handle}}, auth: authNone}
	if err := c.do(ctx, r, decodeJSON(r.nsid, &out)); err != nil {
		return "", err
	}
	return out.DID, nil
}

// GetPreferences returns the raw "preferences" array
// (app.bsky.actor.getPreferences), byte for byte, unknown types included.
func (c *Client) GetPreferences(ctx context.Context) (json.RawMessage, error) {
	var out struct {
		Preferences json.RawMessage `json:"preferences"`
	}
	if err := c.query(ctx, "app.bsky.actor.getPreferences", nil, &out); err != nil {
		return nil, err
	}
	if len(out.Preferences) == 0 || string(out.Preferences) == "null" {
		return json.RawMessage("[]"), nil
	}
	return out.Preferences, nil
}

// PutPreferences replaces the preferences with prefs, a raw JSON array
// (app.bsky.actor.putPreferences); nil means an empty array.
func (c *Client) PutPreferences(ctx context.Context, prefs json.RawMessage) error {
	if len(prefs) == 0 {
		prefs = json.RawMessage("[]")
	}
	in := struct {
		Preferences json.RawMessage `json:"preferences"`
	}{prefs}
	return c.procedure(ctx, "app.bsky.actor.putPreferences", in, nil, false)
}
