package servers

import (
	"context"
	"net/http"
	"time"

	"github.com/atmigrate/atmigrate/internal/pds"
)

// webTimeout bounds a plain GET when the run has no HTTP client of its
// own: a document host that hangs must not hang the run.
const webTimeout = 30 * time.Second

// Get fetches a document that is not an XRPC call (a did:web's did.json)
// with the run's HTTP client and user agent. The caller reads and closes
// the body.
func (s Clients) Get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "atmigrate/"+Version)
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: webTimeout}
	}
	return pds.ObserveClient(hc, s.obs).Do(req)
}
