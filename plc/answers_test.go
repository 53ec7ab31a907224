package plc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
)

// TestAnswerLimits: an audit log or document over its limit is a
// *bodylimit.TooLargeError naming the directory and the call, asked once
// (the same directory would send it again).
func TestAnswerLimits(t *testing.T) {
	const did = "did:plc:abcdefghijklmnopqrstuvwx"
	for _, tc := range []struct {
		name  string
		size  int
		fetch func(*Client) error
	}{
		{"audit log", maxLogBytes + 1, func(c *Client) error { _, err := c.AuditLog(context.Background(), did); return err }},
		{"document data", maxDataBytes + 1, func(c *Client) error { _, err := c.Data(context.Background(), did); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				// A string that never closes: only the limit stops the decoder.
				io.WriteString(w, `[{"did":"`+strings.Repeat("x", tc.size))
			}))
			defer srv.Close()
			c := NewClient(srv.URL, nil)
			c.Retry = fastRetry
			err := tc.fetch(c)
			var tl *bodylimit.TooLargeError
			if !errors.As(err, &tl) || tl.Server != srv.URL || !strings.Contains(tl.Call, did) {
				t.Fatalf("got %v, want a TooLargeError naming %s and the DID", err, srv.URL)
			}
			if n := asked.Load(); n != 1 {
				t.Errorf("asked %d times, want once", n)
			}
		})
	}
}
