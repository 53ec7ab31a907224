package pds

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
)

// TestAnswerLimits: each kind of answer is read up to its method's limit
// and no further; an answer over it is a *bodylimit.TooLargeError naming
// the server and the method, and is not asked again.
func TestAnswerLimits(t *testing.T) {
	for _, tc := range []struct {
		nsid  string
		size  int
		fails bool
		call  func(*Client) error
	}{
		{"com.atproto.server.describeServer", smallAnswer - 100, false, func(c *Client) error { _, err := c.DescribeServer(context.Background()); return err }},
		{"com.atproto.server.describeServer", smallAnswer + 1, true, func(c *Client) error { _, err := c.DescribeServer(context.Background()); return err }},
		{"com.atproto.sync.getRepoStatus", smallAnswer + 1, true, func(c *Client) error { _, err := c.GetRepoStatus(context.Background(), "did:plc:test"); return err }},
		{"com.atproto.server.getSession", smallAnswer + 1, true, func(c *Client) error { _, err := c.GetSession(context.Background()); return err }},
		{"com.atproto.sync.listBlobs", 2 * smallAnswer, false, func(c *Client) error {
			_, _, err := c.ListBlobs(context.Background(), "did:plc:test", "", 0)
			return err
		}},
		{"com.atproto.sync.listBlobs", pageAnswer + 1, true, func(c *Client) error {
			_, _, err := c.ListBlobs(context.Background(), "did:plc:test", "", 0)
			return err
		}},
		{"app.bsky.actor.getPreferences", 2 * smallAnswer, false, func(c *Client) error { _, err := c.GetPreferences(context.Background()); return err }},
		{"app.bsky.actor.getPreferences", recordAnswer + 1, true, func(c *Client) error { _, err := c.GetPreferences(context.Background()); return err }},
		{"com.atproto.repo.getRecord", recordAnswer + 1, true, func(c *Client) error {
			_, _, err := c.GetRecord(context.Background(), "did:plc:test", "app.bsky.actor.profile", "self")
			return err
		}},
		{"com.atproto.sync.getBlocks", blocksAnswer + 1, true, func(c *Client) error { _, err := c.GetBlocks(context.Background(), "did:plc:test", "bafy"); return err }},
	} {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
			// A JSON object of exactly tc.size bytes, padded inside.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"pad":"` + strings.Repeat("x", tc.size-10) + `"}`))
		})
		h.login()
		err := tc.call(h.c)
		var tl *bodylimit.TooLargeError
		if got := errors.As(err, &tl); got != tc.fails {
			t.Errorf("%s, %d bytes: err %v", tc.nsid, tc.size, err)
			continue
		}
		if tc.fails && (tl.Call != tc.nsid || tl.Server != h.srv.URL || h.count(tc.nsid) != 1) {
			t.Errorf("%s: %v (asked %d times), want it named with %s and asked once", tc.nsid, err, h.count(tc.nsid), h.srv.URL)
		}
	}
}
