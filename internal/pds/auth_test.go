package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

func TestLoginAuthFactor(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Identifier, Password, AuthFactorToken string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			xrpcError(w, 400, "InvalidRequest", err.Error())
			return
		}
		switch {
		case in.Password != testPassword:
			xrpcError(w, 401, "AuthenticationRequired", "Invalid identifier or password")
		case in.AuthFactorToken == "":
			xrpcError(w, 401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address")
		case in.AuthFactorToken != "ABCDE-12345":
			xrpcError(w, 401, "InvalidToken", "Token is invalid")
		default:
			writeJSON(w, 200, map[string]any{"accessJwt": access2, "refreshJwt": refresh1, "did": "did:plc:alice", "handle": "alice.test", "email": "a@x.test", "emailConfirmed": true, "active": false, "status": "deactivated"})
		}
	})
	ctx := context.Background()

	_, err := h.c.Login(ctx, "alice.test", "wrong-password-xyz", "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Name != "AuthenticationRequired" {
		t.Fatalf("wrong password: got %v", err)
	}
	want := "com.atproto.server.createSession at " + h.srv.URL + ": 401 AuthenticationRequired: Invalid identifier or password"
	if err.Error() != want {
		t.Errorf("error text:\n got %q\nwant %q", err.Error(), want)
	}

	_, err = h.c.Login(ctx, "alice.test", testPassword, "")
	if ErrorName(err) != "AuthFactorTokenRequired" {
		t.Fatalf("want AuthFactorTokenRequired, got %v", err)
	}
	assertNoSecrets(t, err)
	if h.c.DID() != "" {
		t.Errorf("DID set before a successful login")
	}
	// A bad token is InvalidToken without a session: never a refresh.
	_, err = h.c.Login(ctx, "alice.test", testPassword, "WRONG")
	if ErrorName(err) != "InvalidToken" || h.count("com.atproto.server.refreshSession") != 0 {
		t.Fatalf("bad auth factor: %v (refreshes %d)", err, h.count("com.atproto.server.refreshSession"))
	}

	s, err := h.c.Login(ctx, "alice.test", testPassword, "ABCDE-12345")
	if err != nil {
		t.Fatal(err)
	}
	if s.DID != "did:plc:alice" || s.Active || s.Status != "deactivated" || !s.EmailConfirmed || h.c.DID() != "did:plc:alice" {
		t.Errorf("session = %+v, DID() = %q", s, h.c.DID())
	}
	if got := h.count("com.atproto.server.createSession"); got != 4 {
		t.Errorf("createSession sent %d times, want 4 (4xx never retried)", got)
	}
}

func TestExpiredTokenMidUploadResendsWholeBody(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var bodyChecks int
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.repo.uploadBlob" {
			// Check the body on every attempt, expired or not.
			got, err := io.ReadAll(r.Body)
			if err != nil || !bytes.Equal(got, payload) || r.ContentLength != int64(len(payload)) ||
				len(r.TransferEncoding) != 0 || r.Header.Get("Content-Length") != strconv.Itoa(len(payload)) {
				xrpcError(w, 400, "InvalidRequest", "bad body")
				return
			}
			if r.Header.Get("Content-Type") != "image/png" {
				xrpcError(w, 400, "InvalidRequest", "bad content type "+r.Header.Get("Content-Type"))
				return
			}
			bodyChecks++
		}
		if !tokenAuth(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"blob": map[string]any{"$type": "blob", "ref": map[string]string{"$link": "bafkreitest"}, "mimeType": "image/png", "size": len(payload)}})
	})
	h.login()
	cid, err := h.c.UploadBlob(context.Background(), bytes.NewReader(payload), int64(len(payload)), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if cid != "bafkreitest" {
		t.Errorf("cid = %q", cid)
	}
	if bodyChecks != 2 || h.count("com.atproto.repo.uploadBlob") != 2 {
		t.Errorf("complete bodies %d, uploads %d; want 2 and 2", bodyChecks, h.count("com.atproto.repo.uploadBlob"))
	}
	if got := h.count("com.atproto.server.refreshSession"); got != 1 {
		t.Errorf("refreshSession called %d times, want 1", got)
	}
	if len(h.retryEvents()) != 0 {
		t.Errorf("a refresh is not a retry wait: %v", h.retryEvents())
	}
}

func TestConcurrentExpiryRefreshesOnce(t *testing.T) {
	var mu sync.Mutex
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock() // serialize the fake so "refresh1 used once" is easy to reason about
		defer mu.Unlock()
		if !tokenAuth(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"did": "did:plc:test", "handle": "alice.test", "active": true})
	})
	h.login()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := h.c.GetSession(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
			assertNoSecrets(t, err)
		}
	}
	if got := h.count("com.atproto.server.refreshSession"); got != 1 {
		t.Errorf("refreshSession called %d times, want exactly 1", got)
	}
}

func TestExpiredTwiceReturnsError(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.server.refreshSession" {
			writeJSON(w, 200, map[string]any{"accessJwt": access1, "refreshJwt": refresh1})
			return
		}
		xrpcError(w, 400, "ExpiredToken", "Token has expired")
	})
	h.login()
	_, err := h.c.GetSession(context.Background())
	if ErrorName(err) != "ExpiredToken" {
		t.Fatalf("want ExpiredToken, got %v", err)
	}
	if r, g := h.count("com.atproto.server.refreshSession"), h.count("com.atproto.server.getSession"); r != 1 || g != 2 {
		t.Errorf("refreshes %d, getSession %d; want 1 and 2", r, g)
	}
}

func TestRefreshFailureSurfaces(t *testing.T) {
	h := newHarness(t, tokenAuthOnly)
	h.c.setTokens(access1, "stale-refresh-token-EEEE", "did:plc:test")
	_, err := h.c.GetSession(context.Background())
	if ErrorName(err) != "ExpiredToken" || !containsAll(err.Error(), "refresh session", "refreshSession") {
		t.Fatalf("got %v", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("stale-refresh-token-EEEE")) {
		t.Errorf("refresh token leaked: %v", err)
	}
}

func tokenAuthOnly(w http.ResponseWriter, r *http.Request) {
	if tokenAuth(w, r) {
		writeJSON(w, 200, map[string]any{})
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !bytes.Contains([]byte(s), []byte(sub)) {
			return false
		}
	}
	return true
}

func TestCreateAccountUsesServiceAuthAndKeepsSession(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/xrpc/com.atproto.server.createAccount":
			if r.Header.Get("Authorization") != "Bearer service-jwt-FFFF" {
				xrpcError(w, 401, "AuthMissing", "no service auth")
				return
			}
			var in map[string]string
			_ = json.NewDecoder(r.Body).Decode(&in)
			if in["did"] != "did:plc:alice" || in["password"] != testPassword || in["inviteCode"] != "" {
				xrpcError(w, 400, "InvalidRequest", "bad input")
				return
			}
			writeJSON(w, 200, map[string]any{"accessJwt": access2, "refreshJwt": refresh1, "did": "did:plc:alice", "handle": "alice.new"})
		default:
			tokenAuthOnly(w, r)
		}
	})
	h.c.SetServiceAuth("service-jwt-FFFF")
	s, err := h.c.CreateAccount(context.Background(), CreateAccountInput{DID: "did:plc:alice", Handle: "alice.new", Email: "a@x.test", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if s.DID != "did:plc:alice" || s.Active || s.Email != "a@x.test" || h.c.DID() != "did:plc:alice" {
		t.Errorf("session %+v", s)
	}
	// The client now uses the new account's access token.
	if err := h.c.ActivateAccount(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAccountNotRetriedAfterSending(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		xrpcError(w, 500, "InternalServerError", "Internal Server Error")
	})
	_, err := h.c.CreateAccount(context.Background(), CreateAccountInput{Handle: "a.test", Email: "a@x.test", Password: testPassword})
	if ErrorName(err) != "InternalServerError" || h.count("com.atproto.server.createAccount") != 1 {
		t.Fatalf("err %v after %d requests; want one request", err, h.count("com.atproto.server.createAccount"))
	}

	// A connection dropped after the request was sent: not resent either.
	h2 := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hijackClose(t, w)
	})
	_, err = h2.c.CreateAccount(context.Background(), CreateAccountInput{Handle: "a.test", Email: "a@x.test", Password: testPassword})
	if err == nil || h2.count("com.atproto.server.createAccount") != 1 || !IsTransient(err) {
		t.Fatalf("err %v after %d requests; want one request and a transient error", err, h2.count("com.atproto.server.createAccount"))
	}
	assertNoSecrets(t, err)
}

func TestCreateAccountRetriedOn429(t *testing.T) {
	n := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			xrpcError(w, 429, "RateLimitExceeded", "Rate Limit Exceeded")
			return
		}
		writeJSON(w, 200, map[string]any{"accessJwt": access2, "refreshJwt": refresh2, "did": "did:plc:new"})
	})
	if _, err := h.c.CreateAccount(context.Background(), CreateAccountInput{Handle: "a.test", Email: "a@x.test", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("requests %d, want 2", n)
	}
}

// hijackClose drops the connection without any response.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}
