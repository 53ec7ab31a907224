package pds

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/internal/stall/stalltest"
)

// Each way a PDS can stall ends a call within its bounded attempts, with
// an error that names the server and the call.
func TestEveryStallKindEndsTheCallInBoundedTime(t *testing.T) {
	const idle = 150 * time.Millisecond
	for _, kind := range stalltest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv, requests := stalltest.Server(t, kind)
			c := New(srv.URL, Options{Retry: fastRetry, HTTPClient: &http.Client{Transport: &stall.Transport{Limits: stall.Limits{Idle: idle}}}})
			start := time.Now()
			_, err := c.GetRepoStatus(context.Background(), "did:plc:test")
			took := time.Since(start)
			if !errors.Is(err, stall.ErrStalled) || !IsTransient(err) {
				t.Fatalf("err %v", err)
			}
			for _, want := range []string{srv.URL, "com.atproto.sync.getRepoStatus", "stalled"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
			// fastRetry allows 4 attempts; a stall only MaxStalls (3).
			if got := requests.Load(); got != int64(DefaultRetry.MaxStalls) {
				t.Errorf("%d attempts", got)
			}
			if took > time.Duration(DefaultRetry.MaxStalls)*3*idle+time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}
