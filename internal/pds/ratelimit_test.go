package pds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRateLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	if _, ok := parseRateLimit(h, now); ok {
		t.Fatal("no headers read as a rate limit")
	}
	h.Set("RateLimit-Limit", "1000")
	h.Set("RateLimit-Remaining", "998")
	h.Set("RateLimit-Reset", "1800086400")
	h.Set("RateLimit-Policy", "1000;w=86400")
	rl, ok := parseRateLimit(h, now)
	if !ok || rl.Limit != 1000 || rl.Remaining != 998 || rl.Window != 24*time.Hour || !rl.Reset.Equal(time.Unix(1800086400, 0)) {
		t.Fatalf("parsed %+v, %v", rl, ok)
	}
	h.Del("RateLimit-Remaining")
	if rl, _ := parseRateLimit(h, now); rl.Remaining != -1 {
		t.Errorf("missing Remaining parsed as %d, want -1 (unknown)", rl.Remaining)
	}
}

// The client keeps what each method's answers said of its budget, and an
// APIError for a 429 says when it resets.
func TestClientRecordsRateLimits(t *testing.T) {
	reset := time.Now().Add(time.Hour).Unix()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Limit", "3000")
		w.Header().Set("RateLimit-Remaining", "2999")
		w.Header().Set("RateLimit-Policy", "3000;w=300")
		if r.URL.Path == "/xrpc/com.atproto.repo.uploadBlob" {
			w.Header().Set("RateLimit-Reset", itoa(reset))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`))
			return
		}
		w.Write([]byte(`{"did":"did:web:x","availableUserDomains":[],"blobUploadLimit":5242880}`))
	}))
	defer srv.Close()
	c := New(srv.URL, Options{Retry: RetryPolicy{MaxAttempts: 1, MaxRateLimitWait: time.Second}})
	info, err := c.DescribeServer(context.Background())
	if err != nil || info.BlobUploadLimit != 5<<20 {
		t.Fatalf("describeServer %+v %v", info, err)
	}
	rl, ok := c.RateLimit("com.atproto.server.describeServer")
	if !ok || rl.Limit != 3000 || rl.Window != 5*time.Minute {
		t.Fatalf("rate limit %+v %v", rl, ok)
	}
	_, err = c.UploadBlob(context.Background(), bytesReader("x"), 1, "")
	ae, isAPI := err.(*APIError)
	if !isAPI || ae.Status != 429 || ae.ResetAt.Unix() < reset-1 || ae.ResetAt.Unix() > reset+1 {
		t.Fatalf("upload: %#v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func bytesReader(s string) *strings.Reader { return strings.NewReader(s) }
