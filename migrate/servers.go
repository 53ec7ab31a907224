package migrate

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

// servers makes every client the core talks through: one place for the
// user agent, the HTTP client, the retry policy and its reporting, and the
// request counter, so that a migration, a dry run, an export and a check
// reach the servers the same way.
type servers struct {
	hc       *http.Client
	retry    *pds.RetryPolicy // nil: each call's own default
	requests *atomic.Int64
	prog     ui.Progress
}

func newServers(hc *http.Client, retry *pds.RetryPolicy, requests *atomic.Int64, prog ui.Progress) servers {
	if prog == nil {
		prog = ui.NopProgress{}
	}
	return servers{hc: hc, retry: retry, requests: requests, prog: prog}
}

// serversFor are the servers of a run with options o.
func serversFor(o Options) servers { return newServers(o.HTTPClient, o.Retry, o.Requests, o.Progress) }

// options is the pds.Options of a client sending headers on every request.
func (s servers) options(headers http.Header) pds.Options {
	o := pds.Options{
		UserAgent:  "atmigrate/" + Version,
		HTTPClient: s.hc,
		Headers:    headers,
		Requests:   s.requests,
		OnRetry:    retryReporter(s.prog),
	}
	if s.retry != nil {
		o.Retry = *s.retry
	}
	return o
}

// pds is a client for the PDS at url with the run's policy.
func (s servers) pds(url string, headers http.Header) *pds.Client {
	return pds.New(url, s.options(headers))
}

// probePolicy is the retry policy of the first contact with a server: a
// mistyped URL or a server that is down should be known in a second or
// two, not after a minute of retries.
var probePolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: time.Minute}

// advisoryPolicy is for calls whose answer only informs (is the handle
// taken?): another implementation may take seconds to fail them, so they
// are tried twice and bounded by advisoryTimeout, never retried for a
// minute.
var advisoryPolicy = pds.RetryPolicy{MaxAttempts: 2, BaseDelay: 300 * time.Millisecond, MaxDelay: time.Second, MaxRateLimitWait: 5 * time.Second}

const advisoryTimeout = 15 * time.Second

// probe is a client for a first contact (probePolicy, unless the run set
// its own policy, as tests do).
func (s servers) probe(url string, headers http.Header) *pds.Client {
	return s.withPolicy(url, headers, probePolicy)
}

// advisory is a client for advisory calls (advisoryPolicy, unless the run
// set its own policy).
func (s servers) advisory(url string, headers http.Header) *pds.Client {
	return s.withPolicy(url, headers, advisoryPolicy)
}

func (s servers) withPolicy(url string, headers http.Header, p pds.RetryPolicy) *pds.Client {
	o := s.options(headers)
	if s.retry == nil {
		o.Retry = p
	}
	return pds.New(url, o)
}

// plc is a client for the PLC directory at url.
func (s servers) plc(url string) *plc.Client {
	return newPLCClient(url, s.hc, s.retry, s.prog)
}
