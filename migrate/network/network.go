package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// Expect is what the network should show of a moved account.
type Expect struct {
	// DID is the account.
	DID string
	// Host is the new PDS's hostname as relays name it: "pds.example.com",
	// or "localhost:2583" for a local one (see Hostname).
	Host string
	// Rev is the new PDS's latest commit rev; "" accepts any rev.
	Rev string
	// Handle is the handle the AppView should show; "" accepts any valid
	// handle.
	Handle string
}

// DefaultCallTimeout bounds each call to a relay or an AppView when
// Options.CallTimeout is zero.
const DefaultCallTimeout = 15 * time.Second

// DefaultPoll is how often CheckRelay reads the relay again while it
// waits (RelayOptions.Poll zero).
const DefaultPoll = time.Second

// DefaultAccountLimit is the account limit CheckHost assumes when given
// none: indigo's relay gives every new host this limit
// (--default-account-limit) until its operator raises it. Relays do not
// publish a host's limit.
const DefaultAccountLimit = 100

// Options configures the calls of one check.
type Options struct {
	// Client configures the XRPC client. Its retry policy is capped by
	// pds.CapRetry; it never carries a session.
	Client pds.Options
	// CallTimeout bounds each call, its retries included; zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.CallTimeout <= 0 {
		return DefaultCallTimeout
	}
	return o.CallTimeout
}

// caller is one server's client for one check.
type caller struct {
	c       *pds.Client
	timeout time.Duration
	own     *http.Client // closed after the check when ours
}

func (o Options) caller(baseURL string) *caller {
	co := o.Client
	co.Retry = pds.CapRetry(co.Retry)
	cl := &caller{timeout: o.timeout()}
	if co.HTTPClient == nil {
		cl.own = &http.Client{Transport: pds.NewTransport(2)}
		co.HTTPClient = cl.own
	}
	cl.c = pds.New(baseURL, co)
	return cl
}

// call runs fn under the call timeout.
func (cl *caller) call(ctx context.Context, fn func(context.Context, *pds.Client) error) error {
	cctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	err := fn(cctx, cl.c)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", cl.timeout)
	}
	return err
}

func (cl *caller) close() {
	if cl.own != nil {
		cl.own.CloseIdleConnections()
	}
}

// describe says what went wrong in a few words: an XRPC error's name and
// message, or the transport's error.
func describe(err error) string {
	if err == nil {
		return ""
	}
	var ae *pds.APIError
	if errors.As(err, &ae) {
		name := ae.Name
		if name == "" {
			name = fmt.Sprintf("HTTP %d", ae.Status)
		}
		if ae.Message == "" || ae.Message == name {
			return name
		}
		return name + ": " + ae.Message
	}
	return err.Error()
}

// revAtLeast reports whether have is want or later. Revs are TIDs, whose
// string order is their time order; an empty want accepts anything, an
// empty have (a relay that knows no commit) is never enough for a want.
func revAtLeast(have, want string) bool {
	if want == "" {
		return true
	}
	return have != "" && have >= want
}

// Hostname returns the name relays give the PDS at pdsURL: its host name
// in lower case ("https://PDS.example.com/" is "pds.example.com"), or
// "localhost:<port>" for a local PDS (a loopback address with a port is
// named so too, as relays refuse IP addresses). Like indigo's relay, it
// refuses other ports (a default port is dropped), IP addresses, names
// with a single label, and schemes other than http(s) and ws(s). A bare
// name is taken as https.
func Hostname(pdsURL string) (string, error) {
	raw := strings.TrimSpace(pdsURL)
	if raw == "" {
		return "", errors.New("empty PDS URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("PDS URL %q: %w", pdsURL, err)
	}
	var defaultPort string
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		defaultPort = "443"
	case "http", "ws":
		defaultPort = "80"
	default:
		return "", fmt.Errorf("PDS URL %q: scheme %q is not http or https", pdsURL, u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("PDS URL %q: a PDS is named by its host alone, without user, path or query", pdsURL)
	}
	name, port := strings.ToLower(u.Hostname()), u.Port()
	if name == "" {
		return "", fmt.Errorf("PDS URL %q has no host", pdsURL)
	}
	if ip := net.ParseIP(name); name == "localhost" || (ip != nil && ip.IsLoopback()) {
		if port == "" {
			return "", fmt.Errorf("PDS URL %q: a local PDS needs a port (relays name it localhost:<port>)", pdsURL)
		}
		return "localhost:" + port, nil
	}
	if net.ParseIP(name) != nil {
		return "", fmt.Errorf("PDS URL %q: relays follow a PDS by name, not by IP address", pdsURL)
	}
	if port != "" && port != defaultPort {
		return "", fmt.Errorf("PDS URL %q: relays follow only PDSes on the default port, not %s", pdsURL, port)
	}
	h, err := syntax.ParseHandle(name)
	if err != nil {
		return "", fmt.Errorf("PDS URL %q: %q is not a public host name", pdsURL, name)
	}
	return h.Normalize().String(), nil
}
