package pds

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestRequestCrawlSendsHostnameWithoutAuth(t *testing.T) {
	var got map[string]string
	var auth, method string
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		method, auth = r.Method, r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, 200, map[string]any{})
	})
	h.login() // a session must not leak to a relay
	if err := h.c.RequestCrawl(context.Background(), "pds.example.com"); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodPost || got["hostname"] != "pds.example.com" {
		t.Fatalf("sent %s %v, want POST {hostname: pds.example.com}", method, got)
	}
	if auth != "" {
		t.Fatalf("requestCrawl carried Authorization %q", auth)
	}
}

func TestRequestCrawlRefusalIsNamed(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 401, "DomainBan", "host domain is banned")
	})
	err := h.c.RequestCrawl(context.Background(), "pds.example.com")
	if ErrorName(err) != "DomainBan" {
		t.Fatalf("err = %v, want DomainBan", err)
	}
	if n := h.count("com.atproto.sync.requestCrawl"); n != 1 {
		t.Fatalf("a 401 was sent %d times, want once", n)
	}
}

func TestGetHostStatusAndNotFound(t *testing.T) {
	var auth string
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.Query().Get("hostname") != "pds.example.com" {
			xrpcError(w, 404, "HostNotFound", "host not found")
			return
		}
		writeJSON(w, 200, map[string]any{"hostname": "pds.example.com", "seq": 42, "accountCount": 12, "status": "active"})
	})
	h.login()
	hs, err := h.c.GetHostStatus(context.Background(), "pds.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if *hs != (HostStatus{Hostname: "pds.example.com", Seq: 42, AccountCount: 12, Status: "active"}) {
		t.Fatalf("host status = %+v", *hs)
	}
	if auth != "" {
		t.Fatalf("getHostStatus carried Authorization %q", auth)
	}
	_, err = h.c.GetHostStatus(context.Background(), "other.example.com")
	if !IsHostNotFound(err) {
		t.Fatalf("err = %v, want HostNotFound", err)
	}
}

func TestIsHostNotFoundNeedsTheName(t *testing.T) {
	if IsHostNotFound(&APIError{Status: 404}) {
		t.Fatal("a nameless 404 counted as HostNotFound")
	}
	if !IsHostNotFound(&APIError{Status: 400, Name: "HostNotFound"}) {
		t.Fatal("requestCrawl's 400 HostNotFound not recognised")
	}
}

func TestGetProfileAndErrors(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("actor") {
		case "did:plc:alice":
			writeJSON(w, 200, map[string]any{"did": "did:plc:alice", "handle": "alice.test", "displayName": "Alice", "followersCount": 3})
		case "did:plc:gone":
			xrpcError(w, 400, "InvalidRequest", "Profile not found")
		default:
			xrpcError(w, 400, "AccountDeactivated", "Account is deactivated")
		}
	})
	p, err := h.c.GetProfile(context.Background(), "did:plc:alice")
	if err != nil {
		t.Fatal(err)
	}
	if *p != (Profile{DID: "did:plc:alice", Handle: "alice.test", DisplayName: "Alice"}) {
		t.Fatalf("profile = %+v", *p)
	}
	if _, err := h.c.GetProfile(context.Background(), "did:plc:gone"); !IsProfileNotFound(err) {
		t.Fatalf("err = %v, want profile not found", err)
	}
	_, err = h.c.GetProfile(context.Background(), "did:plc:off")
	if IsProfileNotFound(err) || ErrorName(err) != "AccountDeactivated" {
		t.Fatalf("err = %v, want AccountDeactivated and not 'not found'", err)
	}
	if IsProfileNotFound(&APIError{Status: 400, Name: "InvalidRequest", Message: "Error: actor must be a valid did or a handle"}) {
		t.Fatal("another InvalidRequest counted as profile not found")
	}
}

func TestCapRetry(t *testing.T) {
	got := CapRetry(DefaultRetry)
	if got != NetworkRetry {
		t.Fatalf("CapRetry(DefaultRetry) = %+v, want NetworkRetry %+v", got, NetworkRetry)
	}
	small := RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxRateLimitWait: time.Millisecond, MaxStalls: 1}
	if got := CapRetry(small); got != small {
		t.Fatalf("CapRetry kept %+v as %+v", small, got)
	}
	if got := CapRetry(RetryPolicy{}); got != NetworkRetry {
		t.Fatalf("CapRetry(zero) = %+v", got)
	}
}
