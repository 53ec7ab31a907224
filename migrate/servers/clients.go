package servers

import (
	"cmp"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/migrate/network"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

// Version is the tool version, set by the CLI at build time: the user
// agent every request carries, and the version a backup's manifest names.
var Version = "dev"

// Clients makes the clients of one run (or one command).
type Clients struct {
	HTTPClient *http.Client
	retry      *pds.RetryPolicy // nil: each call's own default
	requests   *atomic.Int64
	prog       ui.Progress
	obs        pds.Observer // see Observed
}

// New is the clients of a run: hc, retry and requests may be nil (the
// default client, each call's own policy, no counting); prog nil reports
// no retries.
func New(hc *http.Client, retry *pds.RetryPolicy, requests *atomic.Int64, prog ui.Progress) Clients {
	return Clients{HTTPClient: hc, retry: retry, requests: requests, prog: ui.OrNop(prog)}
}

// Bounded is the HTTP client of a run: one keep-alive transport for every
// server, under the idle limit idle (0: stall.Default; see internal/stall
// for the wait each call class gets). Clients handed it keep its limits.
func Bounded(idle time.Duration) *http.Client {
	return stall.Guard(&http.Client{Transport: pds.NewTransport(32)}, stall.Limits{Idle: idle})
}

// PDS is a client for the PDS at url with the run's policy, sending
// headers on every request.
func (s Clients) PDS(url string, headers http.Header) *pds.Client {
	return pds.New(url, s.options(headers))
}

// ProbePolicy is the retry policy of the first contact with a server: a
// mistyped URL or a server that is down should be known in a second or
// two, not after a minute of retries.
var ProbePolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: time.Minute}

// AdvisoryPolicy is for calls whose answer only informs (is the handle
// taken?): another implementation may take seconds to fail them, so they
// are tried twice and bounded by AdvisoryTimeout, never retried for a
// minute.
var AdvisoryPolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: 5 * time.Second}

// AdvisoryTimeout bounds an advisory call, retries included.
const AdvisoryTimeout = 15 * time.Second

// Probe is a client for a first contact (ProbePolicy, unless the run set
// its own policy, as tests do).
func (s Clients) Probe(url string, headers http.Header) *pds.Client {
	return s.withPolicy(url, headers, ProbePolicy)
}

// Advisory is a client for advisory calls (AdvisoryPolicy, unless the run
// set its own policy).
func (s Clients) Advisory(url string, headers http.Header) *pds.Client {
	return s.withPolicy(url, headers, AdvisoryPolicy)
}

// PLC is a client for the PLC directory at url ("": DefaultPLC).
func (s Clients) PLC(url string) *plc.Client {
	c := NewPLCClient(url, s.HTTPClient, s.retry, s.prog)
	c.HTTP = pds.ObserveClient(c.HTTP, s.obs)
	return c
}

func (s Clients) options(headers http.Header) pds.Options {
	o := pds.Options{
		UserAgent:  "atmigrate/" + Version,
		HTTPClient: s.HTTPClient,
		Headers:    headers,
		Requests:   s.requests,
		OnRetry:    RetryReporter(s.prog),
		Observer:   s.obs,
	}
	if s.retry != nil {
		o.Retry = *s.retry
	}
	return o
}

func (s Clients) withPolicy(url string, headers http.Header, p pds.RetryPolicy) *pds.Client {
	o := s.options(headers)
	if s.retry == nil {
		o.Retry = p
	}
	return pds.New(url, o)
}

// DefaultPLC is the public PLC directory, used when none is named.
const DefaultPLC = "https://plc.directory"

// PLCLagWait bounds the wait for the directory to show a submitted
// operation; zero means plc.DefaultLagWait. Tests shorten it.
var PLCLagWait time.Duration

// NewPLCClient is the directory client of the core: the PDS calls' retry
// policy (nil: the default) and reporting (prog nil: none), and the
// bounded wait for a write to show. url "" is DefaultPLC.
func NewPLCClient(url string, hc *http.Client, policy *pds.RetryPolicy, prog ui.Progress) *plc.Client {
	c := plc.NewClient(cmp.Or(url, DefaultPLC), hc)
	if policy != nil {
		c.Retry = *policy
	}
	c.OnRetry = RetryReporter(prog)
	c.LagWait = PLCLagWait
	return c
}

// RetryReporter hands the retries of the PDS calls and of the PLC
// directory's (one event type) to prog; nil when there is no prog.
func RetryReporter(prog ui.Progress) func(pds.RetryEvent) {
	if prog == nil {
		return nil
	}
	return func(ev pds.RetryEvent) {
		prog.Retry(ev.Host, ev.Method, ev.Attempt, ev.Wait, ev.Err, ev.RateLimited)
	}
}

// Network is how the run asks relays and AppViews: the run's client and
// user agent, the advisory policy (their answers only inform), no retry
// reporting (a relay that is slow to answer is reported in its line).
func (s Clients) Network() network.Options {
	o := s.options(nil)
	o.OnRetry = nil
	if s.retry == nil {
		o.Retry = AdvisoryPolicy
	}
	return network.Options{Client: o, CallTimeout: AdvisoryTimeout}
}
