package servers

import (
	"context"
	"net/http"

	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/internal/stall"
)

// Get fetches a document that is not an XRPC call (a did:web's did.json)
// with the run's HTTP client and user agent. The caller reads and closes
// the body.
func (s Clients) Get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "atmigrate/"+Version)
	// A document host that hangs must not hang the run: the run's
	// client is bounded already, any other gets the default limits.
	return pds.ObserveClient(stall.Guard(s.HTTPClient, stall.Limits{}), s.obs).Do(req)
}
