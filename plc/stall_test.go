package plc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/retry"
	"github.com/atmigrate/atmigrate/internal/stall"
	"github.com/atmigrate/atmigrate/internal/stall/stalltest"
)

// Each way a directory can stall ends a read within its bounded attempts,
// with an error that names the directory and the request.
func TestEveryStallKindEndsADirectoryReadInBoundedTime(t *testing.T) {
	const idle = 150 * time.Millisecond
	for _, kind := range stalltest.Kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv, requests := stalltest.Server(t, kind)
			c := NewClient(srv.URL, &http.Client{Transport: &stall.Transport{Limits: stall.Limits{Idle: idle}}})
			c.Retry = retry.Policy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
			start := time.Now()
			_, err := c.AuditLog(context.Background(), "did:plc:abc")
			took := time.Since(start)
			if !errors.Is(err, stall.ErrStalled) {
				t.Fatalf("err %v", err)
			}
			for _, want := range []string{srv.URL, "GET /did:plc:abc/log/audit", "stalled"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
			if got := requests.Load(); got != int64(retry.Default.MaxStalls) {
				t.Errorf("%d attempts", got)
			}
			if took > time.Duration(retry.Default.MaxStalls)*3*idle+time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestADirectoryClientWithoutOneOfItsOwnIsBounded(t *testing.T) {
	c := NewClient("http://x", nil)
	b, ok := c.HTTP.Transport.(stall.Bounded)
	if !ok || b.StallLimits() != stall.Default {
		t.Fatalf("transport %T", c.HTTP.Transport)
	}
}
