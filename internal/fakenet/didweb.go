package fakenet

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// DIDWebHost is a user's own web server publishing one did:web document at
// /.well-known/did.json, on localhost (which did:web resolvers reach over
// plain http). It answers 404 until something is published. It is closed
// when the test ends.
type DIDWebHost struct {
	// DID is did:web:localhost%3A<port>, the port escaped as the spec
	// writes it (a PDS that lowercases login identifiers cannot log in
	// with it: clients log in by handle).
	DID string
	// URL is the server's base URL (http://127.0.0.1:<port>).
	URL string

	mu  sync.Mutex
	doc []byte
}

// NewDIDWebHost starts a host with nothing published.
func NewDIDWebHost(t testing.TB) *DIDWebHost {
	t.Helper()
	h := &DIDWebHost{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		doc := h.doc
		h.mu.Unlock()
		if r.URL.Path != "/.well-known/did.json" || doc == nil {
			http.NotFound(w, r)
			return
		}
		writeBytes(w, "application/json", doc)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	h.DID = "did:web:localhost%3A" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	return h
}

// Publish makes doc the published document, as is (it is not checked).
func (h *DIDWebHost) Publish(doc []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.doc = append([]byte(nil), doc...)
}
