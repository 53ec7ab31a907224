package pds

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/stall"
)

func TestObserverSeesEveryExchangeWithoutSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/xrpc/com.atproto.server.describeServer":
			writeJSON(w, 200, map[string]any{"did": "did:web:x", "availableUserDomains": []string{}})
		case "/xrpc/com.atproto.repo.uploadBlob":
			writeJSON(w, 200, map[string]any{"blob": map[string]any{"ref": map[string]string{"$link": "bafkreiabc"}, "mimeType": "image/png", "size": 5}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var mu sync.Mutex
	var evs []RequestEvent
	c := New(srv.URL, Options{Observer: func(ev RequestEvent) { mu.Lock(); evs = append(evs, ev); mu.Unlock() }})
	c.setTokens(access1, refresh1, "did:plc:test")
	ctx := context.Background()
	if _, err := c.DescribeServer(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = c.UploadBlob(ctx, bytes.NewReader([]byte("hello")), 5, "image/png")
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2: %+v", len(evs), evs)
	}
	if evs[0].Method != "com.atproto.server.describeServer" || evs[0].Status != 200 || evs[0].Received == 0 || evs[0].End.Before(evs[0].Start) {
		t.Errorf("describeServer event: %+v", evs[0])
	}
	if evs[1].Method != "com.atproto.repo.uploadBlob" || evs[1].Sent != 5 || evs[1].HTTPMethod != "POST" {
		t.Errorf("uploadBlob event: %+v", evs[1])
	}
	for _, ev := range evs {
		if ev.Host != srv.URL {
			t.Errorf("host %q, want %q", ev.Host, srv.URL)
		}
		if s := strings.Join([]string{ev.Host, ev.Method}, " "); strings.Contains(s, access1) || strings.Contains(s, "?") {
			t.Errorf("event holds more than the call: %q", s)
		}
	}
}

func TestCallName(t *testing.T) {
	for path, want := range map[string]string{
		"/xrpc/com.atproto.sync.getBlob": "com.atproto.sync.getBlob",
		"/did:plc:abc/log/audit":         "/{did}/log/audit",
		"/did%3Aplc%3Aabc":               "/{did}",
		"/.well-known/did.json":          "/.well-known/did.json",
	} {
		if got := CallName(path); got != want {
			t.Errorf("CallName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestObserveClientWrapsOnce(t *testing.T) {
	n := 0
	obs := Observer(func(RequestEvent) { n++ })
	hc := ObserveClient(ObserveClient(nil, obs), obs)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	resp, err := hc.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n != 1 {
		t.Errorf("observed %d times, want 1", n)
	}
	if ObserveClient(http.DefaultClient, nil) != http.DefaultClient {
		t.Error("a nil observer must leave the client alone")
	}
}

// TestObserveKeepsStallBound: observing a client the run bounded keeps it
// known as bounded, so pds.New does not wrap a second, default stall
// limit around the run's own.
func TestObserveKeepsStallBound(t *testing.T) {
	run := stall.Guard(&http.Client{}, stall.Limits{Idle: 7 * time.Second})
	obs := ObserveClient(run, func(RequestEvent) {})
	b, ok := obs.Transport.(stall.Bounded)
	if !ok {
		t.Fatal("the observed client lost its stall bound")
	}
	if got := b.StallLimits().Idle; got != 7*time.Second {
		t.Errorf("idle limit %v, want the run's 7s", got)
	}
	if again := stall.Guard(obs, stall.Limits{}); again != obs {
		t.Error("stall.Guard wrapped an observed, bounded client again")
	}
	if twice := ObserveClient(obs, func(RequestEvent) {}); twice != obs {
		t.Error("an observed client was observed twice")
	}
}
