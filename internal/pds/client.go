package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// Options configures a Client. The zero value is usable.
type Options struct {
	// UserAgent is sent on every request; default "atmigrate/dev".
	UserAgent string
	// HTTPClient defaults to a keep-alive client without an overall
	// timeout (it would cut long streams); see defaultHTTPClient.
	HTTPClient *http.Client
	// Retry is the retry policy; the zero value means DefaultRetry.
	Retry RetryPolicy
	// OnRetry, if set, is called before each wait between attempts.
	OnRetry func(RetryEvent)
	// Headers are added to every request (e.g. x-ratelimit-bypass).
	Headers http.Header
	// Requests, if set, is incremented for every HTTP request sent.
	Requests *atomic.Int64
	// StallTimeout is the idle limit of internal/stall: an attempt whose
	// body moves less than 1 KiB in this long, or a Quick call that waits
	// this long for its answer, is abandoned (and retried a bounded number
	// of times); calls that make the server work wait longer (see
	// callClass). Zero means stall.Default; negative disables. It applies
	// only when HTTPClient is not already bounded (stall.Guard): a run's
	// shared client carries the run's limit.
	StallTimeout time.Duration
	// Observer, if set, is told about every HTTP exchange (see
	// RequestEvent: no header, token, body or query string); it wraps
	// HTTPClient's transport.
	Observer Observer
}

// Client talks XRPC to one PDS. It holds at most one account session (in
// memory only) and is safe for concurrent use.
type Client struct {
	host     string
	hc       *http.Client
	ua       string
	headers  http.Header
	retry    RetryPolicy
	onRetry  func(RetryEvent)
	requests *atomic.Int64

	mu      sync.RWMutex
	access  string
	refresh string
	gen     uint64 // bumped whenever the access token changes
	did     string
	service string // service-auth bearer for the next CreateAccount

	// refreshSem serializes refreshes; a channel so waiting honours ctx.
	refreshSem chan struct{}

	// limits is what the server's rate-limit headers said, per method.
	limits rateLimits

	// breaker fails calls at once for a while after one gave up stalling.
	breaker stallBreaker
}

// New returns a client for the PDS at host ("https://pds.example.com";
// a bare host name gets https://).
func New(host string, opts Options) *Client {
	host = strings.TrimRight(strings.TrimSpace(host), "/")
	if host != "" && !strings.Contains(host, "://") {
		host = "https://" + host
	}
	c := &Client{
		host:       host,
		hc:         opts.HTTPClient,
		ua:         opts.UserAgent,
		headers:    opts.Headers.Clone(),
		retry:      opts.Retry.WithDefaults(),
		onRetry:    opts.OnRetry,
		requests:   opts.Requests,
		refreshSem: make(chan struct{}, 1),
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	c.hc = stall.Guard(c.hc, stall.Limits{Idle: opts.StallTimeout})
	c.hc = ObserveClient(c.hc, opts.Observer)
	if c.ua == "" {
		c.ua = "atmigrate/dev"
	}
	return c
}

// defaultHTTPClient keeps connections alive for parallel blob transfers and
// bounds connection setup; the wait for an answer and the bodies are
// bounded by internal/stall, never by a total timeout.
func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: NewTransport(32)}
}

// NewTransport is the keep-alive transport every client uses by default,
// keeping up to perHost idle connections to one server. A batch shares one
// across its accounts so connections are reused between them.
func NewTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2 * perHost,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		// No ResponseHeaderTimeout: how long an answer may take depends
		// on the call (an import takes minutes, a status read seconds),
		// which internal/stall knows and the transport does not.
	}
}

// Host returns the PDS base URL.
func (c *Client) Host() string { return c.host }

// DID returns the account DID of the session, "" before a login or
// account creation.
func (c *Client) DID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.did
}

// authKind says which credential a request carries.
type authKind int

const (
	authAccess  authKind = iota // the session's access token, if any
	authNone                    // nothing
	authRefresh                 // the session's refresh token
	authService                 // the service-auth token from SetServiceAuth
	authAdmin                   // Basic admin:<password>
)

// request describes one XRPC call; do sends it as often as the retry
// rules allow.
type request struct {
	post        bool
	nsid        string
	query       url.Values
	body        io.ReadSeeker // nil: no body
	size        int64
	contentType string
	auth        authKind
	adminPass   string
	secrets     []string // extra values to redact (passwords)
	unsafe      bool     // not idempotent: resend only when surely not processed
	onBytes     func(int64)
	inMemory    bool // body is an in-memory JSON document the transport may replay
}

// sendBody is one attempt's view of the request body. detach stops it for
// good, so a transport goroutine still writing an abandoned attempt can
// never read concurrently with the next attempt's rewind.
type sendBody struct {
	mu      sync.Mutex
	r       io.Reader
	n       int64
	onBytes func(int64)
	closed  bool
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyDetached
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		if b.onBytes != nil {
			b.onBytes(int64(n))
		}
	}
	return n, err
}

// Close is a no-op: the transport closing the body must not end it for
// the retry loop, which detaches it itself.
func (b *sendBody) Close() error { return nil }

func (b *sendBody) detach() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.n
}

var errBodyDetached = fmt.Errorf("request body detached after the attempt ended")

// newHTTPRequest builds one attempt; gen is the access-token generation
// it carries (0 when it carries none).
func (c *Client) newHTTPRequest(ctx context.Context, r *request) (*http.Request, *sendBody, uint64, error) {
	u := c.host + "/xrpc/" + r.nsid
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	method := http.MethodGet
	if r.post {
		method = http.MethodPost
	}
	ctx = stall.WithClass(ctx, callClass(r.nsid))
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("build %s request: %w", r.nsid, err)
	}
	var sb *sendBody
	if r.body != nil {
		if _, err := r.body.Seek(0, io.SeekStart); err != nil {
			return nil, nil, 0, fmt.Errorf("rewind %s body: %w", r.nsid, err)
		}
		if r.size > 0 {
			sb = &sendBody{r: io.LimitReader(r.body, r.size), onBytes: r.onBytes}
			req.Body = sb
			req.ContentLength = r.size
		} else {
			// ContentLength 0 with a non-nil Body would go out chunked.
			req.Body = http.NoBody
		}
		if r.inMemory {
			// Lets the transport replay a small JSON body on a dead
			// keep-alive connection, which it does only when safe.
			raw := r.body.(*bytes.Reader)
			req.GetBody = func() (io.ReadCloser, error) {
				cp := *raw
				if _, err := cp.Seek(0, io.SeekStart); err != nil {
					return nil, err
				}
				return io.NopCloser(&cp), nil
			}
		}
		ct := r.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		req.Header.Set("Content-Type", ct)
	} else if r.post {
		req.Body = http.NoBody
	}
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", c.ua)

	var gen uint64
	c.mu.RLock()
	access, refresh, service := c.access, c.refresh, c.service
	if access != "" {
		gen = c.gen
	}
	c.mu.RUnlock()
	switch r.auth {
	case authAccess:
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
	case authRefresh:
		if refresh == "" {
			return nil, nil, 0, fmt.Errorf("%s: %w", r.nsid, errNoSession)
		}
		req.Header.Set("Authorization", "Bearer "+refresh)
		gen = 0
	case authService:
		if service != "" {
			req.Header.Set("Authorization", "Bearer "+service)
		}
		gen = 0
	case authAdmin:
		req.SetBasicAuth("admin", r.adminPass)
		gen = 0
	default:
		gen = 0
	}
	return req, sb, gen, nil
}

// secrets lists every credential the client holds plus the request's own,
// for redaction.
func (c *Client) secrets(r *request) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := append([]string{c.access, c.refresh, c.service, r.adminPass}, r.secrets...)
	return s
}

// jsonRequest encodes in as the body of a POST request.
func jsonRequest(nsid string, in any) (*request, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode %s input: %w", nsid, err)
	}
	return &request{
		post:        true,
		nsid:        nsid,
		body:        bytes.NewReader(raw),
		size:        int64(len(raw)),
		contentType: "application/json",
		inMemory:    true,
	}, nil
}

// query sends a GET with the access token (if any) and decodes JSON into out.
func (c *Client) query(ctx context.Context, nsid string, params url.Values, out any) error {
	return c.do(ctx, &request{nsid: nsid, query: params}, decodeJSON(nsid, out))
}

// procedure POSTs in as JSON (nil: no body) with the access token and
// decodes JSON into out (nil: ignore).
func (c *Client) procedure(ctx context.Context, nsid string, in, out any, unsafe bool) error {
	r := &request{post: true, nsid: nsid}
	if in != nil {
		var err error
		if r, err = jsonRequest(nsid, in); err != nil {
			return err
		}
	}
	r.unsafe = unsafe
	return c.do(ctx, r, decodeJSON(nsid, out))
}
