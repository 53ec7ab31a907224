package pds

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

// RequestEvent is one HTTP exchange as an Observer sees it: when it ran,
// which server and which call, how it ended and how many bytes moved. It
// never holds a header, a token, a body or a query string.
type RequestEvent struct {
	// Host is the server's scheme and host ("https://pds.example.com").
	// It is for telling servers apart; observers that publish what they
	// saw (the timeline) replace it with the server's role.
	Host string
	// Method is the XRPC method ("com.atproto.sync.getRepo"), or for any
	// other path the path with every segment that starts with "did:"
	// replaced by "{did}" ("/{did}/log/audit" on the PLC directory).
	Method string
	// HTTPMethod is GET, POST, ...
	HTTPMethod string
	// Start is when the request was handed to the transport; End is when
	// the response body was read to its end or closed, or the exchange
	// failed.
	Start, End time.Time
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Sent and Received are body bytes (the request's as far as the
	// transport read it; the response's as far as the caller read it).
	Sent, Received int64
	// Failed says the exchange ended with a transport error (Status may
	// still be set when the response body broke off).
	Failed bool
}

// Observer is told about every HTTP exchange a client makes (each attempt
// counts), once the exchange is over. It is called from the goroutines
// that make requests, so it must be safe for concurrent use and quick.
type Observer func(RequestEvent)

// ObserveClient returns a copy of hc (nil: a client with NewTransport(32))
// whose transport reports every exchange to obs; hc itself is unchanged.
// With obs nil it returns hc.
func ObserveClient(hc *http.Client, obs Observer) *http.Client {
	if obs == nil {
		return hc
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	switch hc.Transport.(type) {
	case *observingTransport, *boundedObservingTransport:
		return hc // already observed: do not count twice
	}
	c := *hc
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	ot := &observingTransport{next: next, obs: obs}
	c.Transport = ot
	if b, ok := next.(stall.Bounded); ok {
		// Keep the client known as bounded, so that stall.Guard does not
		// put a second, default limit around the run's own.
		c.Transport = &boundedObservingTransport{observingTransport: ot, limits: b}
	}
	return &c
}

type observingTransport struct {
	next http.RoundTripper
	obs  Observer
}

// boundedObservingTransport is an observingTransport over a stall-bounded
// one, forwarding its limits.
type boundedObservingTransport struct {
	*observingTransport
	limits stall.Bounded
}

func (t *boundedObservingTransport) StallLimits() stall.Limits { return t.limits.StallLimits() }

func (t *observingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ev := RequestEvent{
		Host:       r.URL.Scheme + "://" + r.URL.Host,
		Method:     CallName(r.URL.Path),
		HTTPMethod: r.Method,
		Start:      time.Now(),
	}
	var sent *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		r2 := r.Clone(r.Context())
		sent = &countingBody{ReadCloser: r.Body}
		r2.Body = sent
		r = r2
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		ev.End, ev.Failed = time.Now(), true
		if sent != nil {
			ev.Sent = sent.n.Load()
		}
		t.obs(ev)
		return resp, err
	}
	ev.Status = resp.StatusCode
	resp.Body = &observedBody{ReadCloser: resp.Body, ev: ev, sent: sent, obs: t.obs}
	return resp, nil
}

// CallName is what an Observer is told about a URL path: the XRPC
// method, or the path with DIDs replaced by "{did}".
func CallName(path string) string {
	if m, ok := strings.CutPrefix(path, "/xrpc/"); ok {
		return m
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "did:") || strings.HasPrefix(s, "did%3A") || strings.HasPrefix(s, "did%3a") {
			segs[i] = "{did}"
		}
	}
	return strings.Join(segs, "/")
}

type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// observedBody reports the exchange once, at EOF, error or Close.
type observedBody struct {
	io.ReadCloser
	ev   RequestEvent
	sent *countingBody
	obs  Observer
	n    atomic.Int64 // Close may come from another goroutine (a stall)
	once sync.Once
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	if err != nil {
		b.done(err != io.EOF)
	}
	return n, err
}

func (b *observedBody) Close() error {
	err := b.ReadCloser.Close()
	b.done(false)
	return err
}

func (b *observedBody) done(failed bool) {
	b.once.Do(func() {
		ev := b.ev
		ev.End, ev.Received, ev.Failed = time.Now(), b.n.Load(), failed
		if b.sent != nil {
			ev.Sent = b.sent.n.Load()
		}
		b.obs(ev)
	})
}
