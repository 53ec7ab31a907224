package localnet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atclient"
)

// PDS is one running PDS of the network. A PDS built by hand with only URL
// (and RateLimitBypassKey, AdminPassword as needed) can seed a server that
// runs in another process; Stop and Kill then return an error.
type PDS struct {
	// Name is "pds-a" or "pds-b"; it names the log and data directory.
	Name string
	// Version is the PDS's reference version, Version04 or Version05, and
	// PackageVersion the exact @atproto/pds version ("0.4.217", "0.5.35").
	Version, PackageVersion string
	// URL is the PDS's public URL, http://localhost:<port>, exactly as the
	// PDS expects it in a DID document's atproto_pds endpoint.
	URL string
	// DID is the service DID, did:web:localhost%3A<port> (also what
	// describeServer returns; the did:web itself does not resolve).
	DID string
	// Port is the TCP port the PDS listens on.
	Port int
	// PLCURL is the PLC directory this PDS uses.
	PLCURL string
	// AdminPassword authenticates admin calls (HTTP basic, user "admin").
	AdminPassword string
	// RotationKeyHex is the PDS's PLC rotation key: a K-256 private key, hex.
	// It is among the rotation keys of every DID the PDS creates.
	RotationKeyHex string
	// RotationKeyMultibase is the same private key in multibase form.
	RotationKeyMultibase string
	// RotationKeyDID is the did:key of the rotation key's public half.
	RotationKeyDID string
	// RateLimitBypassKey is the x-ratelimit-bypass header value that skips
	// rate limits; empty when rate limits are off.
	RateLimitBypassKey string
	// InviteRequired and RateLimited echo the options the PDS runs with.
	InviteRequired, RateLimited bool
	// DataDir holds the PDS's databases, blobs and mail.jsonl.
	DataDir string
	// LogPath is the server's log file.
	LogPath string

	configPath string
	srv        *server
}

func (p *PDS) server() *server {
	if p == nil {
		return nil
	}
	return p.srv
}

// Stop ends this PDS with SIGTERM (SIGKILL after 5 s), so a test can take
// the old PDS away. Its URL then refuses connections.
func (p *PDS) Stop() error {
	if p.srv == nil {
		return errNotStarted
	}
	return p.srv.stop()
}

// errNotStarted is returned when a PDS value was not made by Start (for
// example one built by hand to seed a PDS that runs elsewhere).
var errNotStarted = errors.New("localnet: PDS was not started by this process")

// Kill ends this PDS with SIGKILL, without a clean shutdown.
func (p *PDS) Kill() error {
	if p.srv == nil {
		return errNotStarted
	}
	return p.srv.kill()
}

// Running reports whether the PDS process is still alive.
func (p *PDS) Running() bool {
	return p.srv != nil && !p.srv.exited()
}

// Mail is one email the PDS would have sent.
type Mail struct {
	// Template is the PDS mail template, e.g. "plcOperation",
	// "confirmEmail", "updateEmail", "resetPassword", "deleteAccount".
	Template string `json:"template"`
	// To is the recipient address.
	To string `json:"to"`
	// Token is the code in the mail, if it has one.
	Token string `json:"token"`
	// Time is when the PDS sent it.
	Time time.Time `json:"time"`
}

// MailTemplatePLCOperation is the template of the mail that carries the
// token for com.atproto.identity.signPlcOperation.
const MailTemplatePLCOperation = "plcOperation"

// ErrNoMail is returned by PLCToken when no matching mail was sent.
var ErrNoMail = errors.New("localnet: no such mail")

// Mail returns every mail the PDS has sent so far, oldest first.
func (p *PDS) Mail() ([]Mail, error) {
	f, err := os.Open(filepath.Join(p.DataDir, "mail.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localnet: open mail log: %w", err)
	}
	defer f.Close()
	var mails []Mail
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var m Mail
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("localnet: parse mail log line %d: %w", len(mails)+1, err)
		}
		mails = append(mails, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("localnet: read mail log: %w", err)
	}
	return mails, nil
}

// PLCToken returns the token of the newest plcOperation mail sent to email
// (compared case-insensitively), or an error wrapping ErrNoMail.
func (p *PDS) PLCToken(email string) (string, error) {
	mails, err := p.Mail()
	if err != nil {
		return "", err
	}
	for i := len(mails) - 1; i >= 0; i-- {
		m := mails[i]
		if m.Template == MailTemplatePLCOperation && strings.EqualFold(m.To, email) && m.Token != "" {
			return m.Token, nil
		}
	}
	return "", fmt.Errorf("%w: no %s mail to %s from %s", ErrNoMail, MailTemplatePLCOperation, email, p.Name)
}

// httpClient is shared by the clients this package makes: many keep-alive
// connections per host, since seeding uploads blobs in parallel.
var httpClient = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
	},
}

// NewClient returns an unauthenticated client for this PDS that bypasses
// its rate limits when they are on.
func (p *PDS) NewClient() *atclient.APIClient {
	c := atclient.NewAPIClient(p.URL)
	p.setup(c)
	return c
}

// AdminClient returns a client that authenticates with the admin password.
func (p *PDS) AdminClient() *atclient.APIClient {
	c := atclient.NewAdminClient(p.URL, p.AdminPassword)
	p.setup(c)
	return c
}

func (p *PDS) setup(c *atclient.APIClient) {
	c.Client = httpClient
	c.Headers.Set("User-Agent", "atmigrate-localnet")
	if p.RateLimitBypassKey != "" {
		c.Headers.Set("x-ratelimit-bypass", p.RateLimitBypassKey)
	}
}
