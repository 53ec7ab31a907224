package fakenet_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
)

// A did:web host serves what was published, at the did:web URL of its DID
// (localhost over http), and 404 before and elsewhere.
func TestDIDWebHost(t *testing.T) {
	h := fakenet.NewDIDWebHost(t)
	port, ok := strings.CutPrefix(h.DID, "did:web:localhost%3A")
	if !ok || !strings.HasSuffix(h.URL, ":"+port) {
		t.Fatalf("DID %s for %s", h.DID, h.URL)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://localhost:" + port + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/.well-known/did.json"); code != http.StatusNotFound {
		t.Fatalf("before publication: %d", code)
	}
	doc := `{"id":"` + h.DID + `"}`
	h.Publish([]byte(doc))
	if code, body := get("/.well-known/did.json"); code != http.StatusOK || body != doc {
		t.Fatalf("published: %d %s", code, body)
	}
	if code, _ := get("/did.json"); code != http.StatusNotFound {
		t.Fatalf("another path: %d", code)
	}
}
