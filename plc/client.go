package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"
)

// maxLogBytes caps an audit log response; real logs are a few KB, this only
// guards against a runaway server.
const maxLogBytes = 32 << 20

// maxErrorBytes caps how much of an error body is read for its message.
const maxErrorBytes = 64 << 10

// Client talks to a PLC directory over HTTP. It does its own requests
// instead of using didplc.Client so that the directory's error message
// reaches the user: didplc.Client.Submit drops the body into slog and
// returns only the status code.
type Client struct {
	URL       string
	HTTP      *http.Client
	UserAgent string
}

// NewClient returns a client for the directory at url (trailing slashes are
// trimmed). A nil hc gets a client with a 30 s timeout: PLC answers are
// small, so a whole-exchange timeout is safe here.
func NewClient(url string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: hc, UserAgent: "atmigrate"}
}

// DirectoryError is a non-2xx answer to a GET on the PLC directory (other
// than 404, which is ErrDIDNotFound).
type DirectoryError struct {
	Status  int
	Message string
}

func (e *DirectoryError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("plc directory: HTTP %d", e.Status)
	}
	return fmt.Sprintf("plc directory: HTTP %d: %s", e.Status, e.Message)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) didURL(did string) (string, error) {
	if !strings.HasPrefix(did, "did:plc:") {
		return "", fmt.Errorf("not a did:plc: %q", did)
	}
	return strings.TrimRight(c.URL, "/") + "/" + url.PathEscape(did), nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	ua := c.UserAgent
	if ua == "" {
		ua = "atmigrate"
	}
	req.Header.Set("User-Agent", ua)
	return c.httpClient().Do(req)
}

// AuditLog fetches GET /{did}/log/audit: every operation of the DID,
// nullified ones included, with createdAt. It does not verify the log; use
// State (or StateFromLog) for that.
func (c *Client) AuditLog(ctx context.Context, did string) ([]didplc.LogEntry, error) {
	u, err := c.didURL(did)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/log/audit", nil)
	if err != nil {
		return nil, fmt.Errorf("fetch audit log: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch audit log: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("fetch audit log of %s: %w", did, ErrDIDNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch audit log of %s: %w", did,
			&DirectoryError{Status: resp.StatusCode, Message: readMessage(resp.Body)})
	}
	var log []didplc.LogEntry
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLogBytes)).Decode(&log); err != nil {
		return nil, fmt.Errorf("decode audit log of %s: %w", did, err)
	}
	return log, nil
}

// State fetches the audit log and verifies it (see StateFromLog).
func (c *Client) State(ctx context.Context, did string) (*State, error) {
	log, err := c.AuditLog(ctx, did)
	if err != nil {
		return nil, err
	}
	return StateFromLog(did, log)
}

// Submit posts op to the directory (POST /{did}, JSON). A non-2xx answer is
// returned as *SubmitError carrying the directory's message.
//
// A submit is not idempotent: re-posting an op that was already applied is
// refused with "Invalid signature on op". After a timeout or crash, call
// Applied before submitting again.
func (c *Client) Submit(ctx context.Context, did string, op *didplc.RegularOp) error {
	u, err := c.didURL(did)
	if err != nil {
		return err
	}
	body, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("encode plc operation: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("submit plc operation: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("submit plc operation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &SubmitError{Status: resp.StatusCode, Message: readMessage(resp.Body)}
	}
	// Drain so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	return nil
}

// Applied reports whether an operation with CID opCID is in the DID's log
// and not nullified. Use it after a timeout or crash to decide whether a
// submission went through, since re-submitting is not idempotent.
func (c *Client) Applied(ctx context.Context, did, opCID string) (bool, error) {
	log, err := c.AuditLog(ctx, did)
	if err != nil {
		return false, err
	}
	for _, e := range log {
		if e.CID == opCID {
			return !e.Nullified, nil
		}
	}
	return false, nil
}

// readMessage extracts the PLC's {"message": "..."} (also accepting an
// XRPC-style {"error"}), or falls back to the start of the body.
func readMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBytes))
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &m) == nil {
		switch {
		case m.Message != "" && m.Error != "":
			return m.Error + ": " + m.Message
		case m.Message != "":
			return m.Message
		case m.Error != "":
			return m.Error
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
