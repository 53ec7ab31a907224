package pds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/retry"
)

func TestServerErrorRetried(t *testing.T) {
	n := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			xrpcError(w, 500, "InternalServerError", "Internal Server Error")
			return
		}
		writeJSON(w, 200, map[string]any{"did": "did:web:pds.test", "inviteCodeRequired": true, "availableUserDomains": []string{".test"}})
	})
	info, err := h.c.DescribeServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.DID != "did:web:pds.test" || !info.InviteCodeRequired || len(info.AvailableUserDomains) != 1 {
		t.Errorf("info %+v", info)
	}
	ev := h.retryEvents()
	if n != 2 || len(ev) != 1 || ev[0].Attempt != 1 || ev[0].RateLimited || ev[0].Method != "com.atproto.server.describeServer" || ev[0].Host != h.srv.URL {
		t.Errorf("requests %d, events %+v", n, ev)
	}
	if h.requests.Load() != 2 {
		t.Errorf("Requests counter %d, want 2", h.requests.Load())
	}
}

func TestServerErrorGivesUpAfterMaxAttempts(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 502, "", "")
	})
	_, err := h.c.DescribeServer(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 502 || !IsTransient(err) {
		t.Fatalf("got %v", err)
	}
	if got := h.count("com.atproto.server.describeServer"); got != fastRetry.MaxAttempts {
		t.Errorf("attempts %d, want %d", got, fastRetry.MaxAttempts)
	}
	if !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error text %q", err)
	}
}

func TestClientErrorNotRetried(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 400, "RepoNotFound", "Could not find repo for DID: did:plc:nope")
	})
	_, err := h.c.GetRepoStatus(context.Background(), "did:plc:nope")
	if ErrorName(err) != "RepoNotFound" || IsTransient(err) {
		t.Fatalf("got %v", err)
	}
	if h.requests.Load() != 1 || len(h.retryEvents()) != 0 {
		t.Errorf("requests %d, events %d; want 1 and 0", h.requests.Load(), len(h.retryEvents()))
	}
}

func TestRateLimitWaitsForReset(t *testing.T) {
	var reset atomic.Int64
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		// Refuse until the announced reset has really passed.
		if time.Now().Unix() < reset.Load() {
			w.Header().Set("RateLimit-Limit", "10")
			w.Header().Set("RateLimit-Remaining", "0")
			w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Load(), 10))
			xrpcError(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
			return
		}
		writeJSON(w, 200, map[string]string{"cid": "bafycommit", "rev": "3rev"})
	})
	reset.Store(time.Now().Add(time.Second).Unix() + 1) // 1-2 s ahead
	start := time.Now()
	cid, rev, err := h.c.GetLatestCommit(context.Background(), "did:plc:test")
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if cid != "bafycommit" || rev != "3rev" {
		t.Errorf("got %q %q", cid, rev)
	}
	if h.requests.Load() != 2 {
		t.Errorf("requests %d, want 2 (one wait until the reset)", h.requests.Load())
	}
	if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("elapsed %s, want about the reset time", elapsed)
	}
	ev := h.retryEvents()
	if len(ev) != 1 || !ev[0].RateLimited || ev[0].Wait < 900*time.Millisecond {
		t.Errorf("events %+v", ev)
	}
	var ae *APIError
	if !errors.As(ev[0].Err, &ae) || ae.Status != 429 || ae.RetryAfter <= 0 {
		t.Errorf("event error %v", ev[0].Err)
	}
}

func TestRetryAfterHeaderHonoured(t *testing.T) {
	n := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			xrpcError(w, 503, "", "maintenance")
			return
		}
		writeJSON(w, 200, map[string]string{})
	})
	start := time.Now()
	// submitPlcOperation is not idempotent, but a 503 with an announced
	// retry time was not processed.
	if err := h.c.SubmitPlcOperation(context.Background(), []byte(`{"type":"plc_operation"}`)); err != nil {
		t.Fatal(err)
	}
	if n != 2 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("requests %d after %s", n, time.Since(start))
	}
}

func TestRateLimitBeyondMaxWaitReturnsError(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		xrpcError(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
	})
	start := time.Now()
	_, err := h.c.Login(context.Background(), "alice.test", testPassword, "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter < 59*time.Minute {
		t.Fatalf("got %v", err)
	}
	if h.requests.Load() != 1 || time.Since(start) > time.Second {
		t.Errorf("requests %d after %s; want 1, at once", h.requests.Load(), time.Since(start))
	}
	if !strings.Contains(err.Error(), "retry after") {
		t.Errorf("error text %q", err)
	}
	assertNoSecrets(t, err)
}

func TestCancelDuringBackoff(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 500, "InternalServerError", "boom")
	})
	h.c.retry = RetryPolicy{MaxAttempts: 5, BaseDelay: 30 * time.Second, MaxDelay: 30 * time.Second, MaxRateLimitWait: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.c.CheckAccountStatus(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s", d)
	}
	if h.requests.Load() != 1 {
		t.Errorf("requests %d", h.requests.Load())
	}
	// An already-cancelled context sends nothing.
	if _, err := h.c.CheckAccountStatus(ctx); !errors.Is(err, context.Canceled) || h.requests.Load() != 1 {
		t.Errorf("cancelled ctx: %v, requests %d", err, h.requests.Load())
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	n := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			hijackClose(t, w)
			return
		}
		writeJSON(w, 200, map[string]any{"activated": true, "validDid": true, "repoBlocks": 7, "expectedBlobs": 3, "importedBlobs": 2})
	})
	st, err := h.c.CheckAccountStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Activated || st.RepoBlocks != 7 || st.ExpectedBlobs != 3 || st.ImportedBlobs != 2 {
		t.Errorf("status %+v", st)
	}
	if ev := h.retryEvents(); len(ev) != 1 || !IsTransient(ev[0].Err) {
		t.Errorf("events %+v", ev)
	}
}

func TestDialErrorRetriedEvenForUnsafeCalls(t *testing.T) {
	c := New("http://127.0.0.1:1", Options{Retry: fastRetry})
	var n atomic.Int64
	c.requests = &n
	err := c.SubmitPlcOperation(context.Background(), []byte(`{}`))
	if err == nil || !IsTransient(err) || !retry.IsDialError(err) {
		t.Fatalf("got %v", err)
	}
	if n.Load() != int64(fastRetry.MaxAttempts) {
		t.Errorf("attempts %d, want %d", n.Load(), fastRetry.MaxAttempts)
	}
}

func TestErrorBodies(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("handle") {
		case "plc.test":
			// PLC style: message only.
			writeJSON(w, 400, map[string]string{"message": "Invalid signature"})
		case "html.test":
			w.WriteHeader(404)
			_, _ = w.Write([]byte("<html>\n<body>Not   Found</body></html>"))
		case "echo.test":
			// A server that echoes credentials back must not leak them.
			xrpcError(w, 400, "InvalidRequest", "bad header: "+r.Header.Get("Authorization")+" and "+testPassword)
		}
	})
	ctx := context.Background()
	_, err := h.c.ResolveHandle(ctx, "plc.test")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Name != "" || ae.Message != "Invalid signature" {
		t.Errorf("plc style: %#v", err)
	}
	_, err = h.c.ResolveHandle(ctx, "html.test")
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Message != "<html> <body>Not Found</body></html>" {
		t.Errorf("html: %#v", err)
	}
	h.login()
	r := &request{nsid: "com.atproto.identity.resolveHandle", query: map[string][]string{"handle": {"echo.test"}}, secrets: []string{testPassword}}
	err = h.c.do(ctx, r, nil)
	if err == nil || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("echo: %v", err)
	}
	assertNoSecrets(t, err)
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	h := http.Header{}
	h.Set("RateLimit-Reset", "1000010")
	h.Set("Retry-After", "3")
	if got := RetryAfter(h, now); got != 10*time.Second {
		t.Errorf("got %s", got)
	}
	h.Set("Retry-After", now.Add(20*time.Second).UTC().Format(http.TimeFormat))
	if got := RetryAfter(h, now); got != 20*time.Second {
		t.Errorf("http date: got %s", got)
	}
	if got := RetryAfter(http.Header{"Ratelimit-Reset": {"999990"}}, now); got != 0 {
		t.Errorf("past reset: got %s", got)
	}
}

// A full disk while a blob is written is not a network error: the fetch
// stops at once instead of retrying (a syscall.Errno also satisfies
// net.Error, which once made ENOSPC look like a dropped connection).
func TestLocalFileErrorNotRetried(t *testing.T) {
	calls := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Write([]byte("blob bytes"))
	})
	full := &fs.PathError{Op: "write", Path: "/state/blobs/.tmp-x", Err: syscall.ENOSPC}
	err := h.c.FetchBlob(context.Background(), "did:plc:x", "bafkreix", func(io.Reader, int64, string) error {
		return fmt.Errorf("write blob: %w", full)
	})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("want the ENOSPC back, got %v", err)
	}
	if calls != 1 || len(h.retryEvents()) != 0 {
		t.Errorf("%d requests, %d retries: a local error was retried", calls, len(h.retryEvents()))
	}
	for _, e := range []error{full, &fs.PathError{Op: "open", Path: "/ro", Err: syscall.EROFS}, &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EACCES}} {
		if IsTransient(e) {
			t.Errorf("IsTransient(%v) = true", e)
		}
	}
	if !IsTransient(fmt.Errorf("read: %w", syscall.ECONNRESET)) {
		t.Errorf("a connection reset is no longer transient")
	}
}
