package servers

import (
	"cmp"
	"net/http"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/plc"
)

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
