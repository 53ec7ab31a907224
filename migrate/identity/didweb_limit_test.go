package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/bodylimit"
	"github.com/atmigrate/atmigrate/migrate/servers"
)

// TestDIDWebDocumentLimit: a did.json over maxWebDocBytes is refused with
// a *bodylimit.TooLargeError naming its URL, not read into memory.
func TestDIDWebDocumentLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"did:web:x","pad":"` + strings.Repeat("x", maxWebDocBytes) + `"}`))
	}))
	defer srv.Close()
	did := "did:web:" + strings.Replace(strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1:", "localhost%3A", 1)
	_, _, err := fetchWeb(context.Background(), servers.New(nil, nil, nil, nil), did)
	var tl *bodylimit.TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(tl.Server, "/.well-known/did.json") {
		t.Fatalf("got %v, want a TooLargeError naming the document's URL", err)
	}
}
