package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkStreamed fails the request unless it carries an exact
// Content-Length (no chunking), the wanted Content-Type and the payload.
func checkStreamed(w http.ResponseWriter, r *http.Request, payload []byte, contentType string) bool {
	got, err := io.ReadAll(r.Body)
	switch {
	case err != nil:
		xrpcError(w, 400, "InvalidRequest", "read: "+err.Error())
	case len(r.TransferEncoding) != 0:
		xrpcError(w, 400, "InvalidRequest", "chunked")
	case r.ContentLength != int64(len(payload)):
		xrpcError(w, 400, "InvalidRequest", "bad length")
	case r.Header.Get("Content-Type") != contentType:
		xrpcError(w, 400, "InvalidRequest", "bad type "+r.Header.Get("Content-Type"))
	case !bytes.Equal(got, payload):
		xrpcError(w, 400, "InvalidRequest", "bad bytes")
	default:
		return true
	}
	return false
}

func TestImportRepoStreamsWithLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "repo.car")
	if err := os.WriteFile(path, carBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.repo.importRepo" && !checkStreamed(w, r, carBytes, "application/vnd.ipld.car") {
			return
		}
		if !tokenAuth(w, r) {
			return
		}
		n++
		if n == 1 {
			// Fails after the whole body was counted: progress must be undone.
			xrpcError(w, 500, "InternalServerError", "Internal Server Error")
			return
		}
		w.WriteHeader(200)
	})
	h.login() // expired: refresh, then 500, then success
	var total, peak int64
	err = h.c.ImportRepo(context.Background(), f, int64(len(carBytes)), func(k int64) {
		total += k
		peak = max(peak, total)
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(len(carBytes)) || peak != total {
		t.Errorf("progress total %d peak %d, want %d", total, peak, len(carBytes))
	}
	if got := h.count("com.atproto.repo.importRepo"); got != 3 {
		t.Errorf("import requests %d, want 3 (expired, 500, ok)", got)
	}
}

func TestUploadBlobContentLengthAndDefaultType(t *testing.T) {
	payload := []byte("some blob bytes")
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if !checkStreamed(w, r, payload, "application/octet-stream") || !tokenAuth(w, r) {
			return
		}
		writeJSON(w, 200, map[string]any{"blob": map[string]any{"ref": map[string]string{"$link": "bafkrei1"}}})
	})
	h.c.setTokens(access2, refresh2, "did:plc:test")
	// A reader longer than size: only size bytes go out.
	body := strings.NewReader(string(payload) + "TRAILING")
	cid, err := h.c.UploadBlob(context.Background(), body, int64(len(payload)), "")
	if err != nil || cid != "bafkrei1" {
		t.Fatalf("%q %v", cid, err)
	}
}

func TestUploadEmptyBlob(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if !checkStreamed(w, r, []byte{}, "text/plain") || r.Header.Get("Content-Length") != "0" {
			xrpcError(w, 400, "InvalidRequest", "want Content-Length: 0")
			return
		}
		writeJSON(w, 200, map[string]any{"blob": map[string]any{"ref": map[string]string{"$link": "bafkempty"}}})
	})
	if cid, err := h.c.UploadBlob(context.Background(), bytes.NewReader(nil), 0, "text/plain"); err != nil || cid != "bafkempty" {
		t.Fatalf("%q %v", cid, err)
	}
}

func TestListMissingBlobsStopsOnEmptyPage(t *testing.T) {
	pages := map[string]string{
		"":   `{"blobs":[{"cid":"c1","recordUri":"at://did:plc:test/app.bsky.feed.post/1"},{"cid":"c2","recordUri":"at://x/y/2"}],"cursor":"p2"}`,
		"p2": `{"blobs":[{"cid":"c3","recordUri":"at://x/y/3"}],"cursor":"p3"}`,
		"p3": `{"blobs":[],"cursor":"p4"}`,
	}
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("limit") != "1000" {
			xrpcError(w, 400, "InvalidRequest", "limit")
			return
		}
		page, ok := pages[r.URL.Query().Get("cursor")]
		if !ok {
			xrpcError(w, 400, "InvalidRequest", "paged past the empty page")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page))
	})
	blobs, err := h.c.ListMissingBlobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 3 || blobs[0].CID != "c1" || blobs[0].RecordURI != "at://did:plc:test/app.bsky.feed.post/1" || blobs[2].CID != "c3" {
		t.Errorf("blobs %+v", blobs)
	}
	if h.requests.Load() != 3 {
		t.Errorf("requests %d, want 3", h.requests.Load())
	}
}

func TestPreferencesRoundTripLossless(t *testing.T) {
	const prefs = `[{"$type":"app.bsky.actor.defs#savedFeedsPrefV2","items":[{"id":"x","pinned":true}]},{"$type":"com.example.unknown#pref","weird":{"nested":[1,2.5,"three"]}}]`
	var stored []byte
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if !tokenAuth(w, r) {
			return
		}
		switch r.URL.Path {
		case "/xrpc/app.bsky.actor.getPreferences":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"preferences":` + prefs + `}`))
		case "/xrpc/app.bsky.actor.putPreferences":
			var in struct {
				Preferences json.RawMessage `json:"preferences"`
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			stored = in.Preferences
			w.WriteHeader(200)
		}
	})
	h.c.setTokens(access2, refresh2, "did:plc:test")
	got, err := h.c.GetPreferences(context.Background())
	if err != nil || string(got) != prefs {
		t.Fatalf("get: %s %v", got, err)
	}
	if err := h.c.PutPreferences(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if string(stored) != prefs {
		t.Errorf("stored %s", stored)
	}
}

func TestServerAndIdentityCalls(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/xrpc/com.atproto.server.createInviteCode" {
			user, pw, ok := r.BasicAuth()
			if !ok || user != "admin" || pw != testPassword {
				xrpcError(w, 401, "AuthenticationRequired", "Authentication Required")
				return
			}
			var in map[string]int
			_ = json.NewDecoder(r.Body).Decode(&in)
			writeJSON(w, 200, map[string]string{"code": "pds-test-" + string(rune('0'+in["useCount"]))})
			return
		}
		if !tokenAuth(w, r) {
			return
		}
		switch r.URL.Path {
		case "/xrpc/com.atproto.server.getServiceAuth":
			q := r.URL.Query()
			if q.Get("aud") != "did:web:new.test" || q.Get("lxm") != "com.atproto.server.createAccount" || q.Get("exp") == "" {
				xrpcError(w, 400, "InvalidRequest", "bad params")
				return
			}
			writeJSON(w, 200, map[string]string{"token": "svc-token"})
		case "/xrpc/com.atproto.server.deactivateAccount":
			b, _ := io.ReadAll(r.Body)
			if string(b) != "{}" || r.Header.Get("Content-Type") != "application/json" {
				xrpcError(w, 400, "InvalidRequest", "want {}")
				return
			}
			w.WriteHeader(200)
		case "/xrpc/com.atproto.identity.getRecommendedDidCredentials":
			_, _ = w.Write([]byte(`{"rotationKeys":["did:key:zQ3sA"],"alsoKnownAs":["at://alice.test"],"verificationMethods":{"atproto":"did:key:zQ3sB"},"services":{"atproto_pds":{"type":"AtprotoPersonalDataServer","endpoint":"https://new.test"}}}`))
		case "/xrpc/com.atproto.identity.signPlcOperation":
			var in map[string]json.RawMessage
			_ = json.NewDecoder(r.Body).Decode(&in)
			if string(in["token"]) != `"EMAIL-TOKEN"` || string(in["services"]) == "" {
				xrpcError(w, 400, "InvalidToken", "bad token")
				return
			}
			_, _ = w.Write([]byte(`{"operation":{"type":"plc_operation","prev":"bafyprev","sig":"abc"}}`))
		case "/xrpc/com.atproto.identity.submitPlcOperation", "/xrpc/com.atproto.identity.requestPlcOperationSignature":
			w.WriteHeader(200)
		}
	})
	ctx := context.Background()
	code, err := h.c.CreateInviteCode(ctx, testPassword, 1)
	if err != nil || code != "pds-test-1" {
		t.Fatalf("invite: %q %v", code, err)
	}
	if _, err := h.c.CreateInviteCode(ctx, "wrong-admin-pass", 1); ErrorName(err) != "AuthenticationRequired" || h.count("com.atproto.server.createInviteCode") != 2 {
		t.Errorf("bad admin password: %v", err)
	}
	h.c.setTokens(access2, refresh2, "did:plc:test")
	tok, err := h.c.GetServiceAuth(ctx, "did:web:new.test", "com.atproto.server.createAccount", 60e9)
	if err != nil || tok != "svc-token" {
		t.Fatalf("service auth: %q %v", tok, err)
	}
	if err := h.c.DeactivateAccount(ctx); err != nil {
		t.Fatal(err)
	}
	cred, err := h.c.GetRecommendedDidCredentials(ctx)
	if err != nil || cred.Services["atproto_pds"].Endpoint != "https://new.test" || cred.VerificationMethods["atproto"] != "did:key:zQ3sB" {
		t.Fatalf("credentials %+v %v", cred, err)
	}
	if err := h.c.RequestPlcOperationSignature(ctx); err != nil {
		t.Fatal(err)
	}
	op, err := h.c.SignPlcOperation(ctx, "EMAIL-TOKEN", cred)
	if err != nil || string(op) != `{"type":"plc_operation","prev":"bafyprev","sig":"abc"}` {
		t.Fatalf("sign: %s %v", op, err)
	}
	if err := h.c.SubmitPlcOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
}
