package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// didWebHost serves one did:web document on localhost, the way a user's
// own web server would; the PDSes resolve localhost did:webs over http.
type didWebHost struct {
	DID string
	mu  sync.Mutex
	doc []byte
}

func newDIDWebHost(t *testing.T) *didWebHost {
	t.Helper()
	l4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l4.Addr().(*net.TCPAddr).Port
	// Lowercase %3a: the PDS lowercases login identifiers, so a DID with
	// "%3A" could never log in by DID.
	h := &didWebHost{DID: fmt.Sprintf("did:web:localhost%%3a%d", port)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(h.doc)
	})}
	go srv.Serve(l4)
	if l6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", port)); err == nil {
		go srv.Serve(l6) // Node may try ::1 first for "localhost"
	}
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *didWebHost) publish(doc []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.doc = doc
}

func (h *didWebHost) publishFor(handle, pdsURL, signingDIDKey string) {
	doc := map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"},
		"id":          h.DID,
		"alsoKnownAs": []string{"at://" + handle},
		"verificationMethod": []map[string]any{{
			"id": h.DID + "#atproto", "type": "Multikey", "controller": h.DID,
			"publicKeyMultibase": strings.TrimPrefix(signingDIDKey, "did:key:"),
		}},
		"service": []map[string]any{{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pdsURL}},
	}
	b, _ := json.Marshal(doc)
	h.publish(b)
}

// TestDIDWebMigration: a did:web account's data moves as usual; instead of
// a PLC operation the run writes the did.json to publish and pauses (exit
// 3); once it is published, the same command activates B and deactivates A.
func TestDIDWebMigration(t *testing.T) {
	net := sharedNet(t)
	ctx := ctxT(t)
	host := newDIDWebHost(t)
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey()
	handle := uniq("web") + ".test"
	host.publishFor(handle, net.A.URL, pub.DIDKey())

	// Create the did:web account on A as its owner would: service auth
	// signed with the document's key, then A's signing key published.
	tok, err := plc.ServiceAuthToken(host.DID, net.A.DID, "com.atproto.server.createAccount", time.Minute, key)
	if err != nil {
		t.Fatal(err)
	}
	a := pds.New(net.A.URL, pds.Options{})
	a.SetServiceAuth(tok)
	email := strings.TrimSuffix(handle, ".test") + "@example.com"
	if _, err := a.CreateAccount(ctx, pds.CreateAccountInput{DID: host.DID, Handle: handle, Email: email, Password: localnet.DefaultPassword}); err != nil {
		t.Fatalf("create the did:web account on A: %v", err)
	}
	cred, err := a.GetRecommendedDidCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host.publishFor(handle, net.A.URL, cred.VerificationMethods["atproto"])
	if err := a.ActivateAccount(ctx); err != nil {
		t.Fatalf("activate on A: %v", err)
	}
	acct := &localnet.Account{DID: host.DID, Handle: handle, Email: email, Password: localnet.DefaultPassword, PDS: net.A}
	for i := 0; i < 20; i++ {
		if _, _, err := acct.Post(ctx, fmt.Sprintf("did:web post %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acct.PostWithImage(ctx, 4000); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, net.A.URL, acct.DID, acct.Password)

	env := migrateEnv(net, acct)
	state := t.TempDir()
	r := atmigrate(t, env, "migrate", "--dry-run", "--old-pds", net.A.URL)
	if r.code != 0 {
		t.Fatalf("dry run: want exit 0\n%s", r)
	}
	mustContain(t, r, "did:web", "A real run should succeed")
	args := []string{"migrate", "--yes", "--state-dir", state, "--old-pds", net.A.URL}
	r = atmigrate(t, env, args...)
	if r.code != 3 {
		t.Fatalf("want exit 3 (publish did.json)\n%s", r)
	}
	mustContain(t, r, "publish", "/.well-known/did.json")
	published, err := os.ReadFile(filepath.Join(state, "did.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(published), net.B.URL) {
		t.Fatalf("did.json does not point at B:\n%s", published)
	}
	// A second run before publication pauses again and changes nothing.
	if r = atmigrate(t, env, args...); r.code != 3 {
		t.Fatalf("run before publication: want exit 3\n%s", r)
	}
	host.publish(published)
	if r = atmigrate(t, env, args...); r.code != 0 {
		t.Fatalf("run after publication: want exit 0\n%s", r)
	}
	after := takeSnapshot(t, net.B.URL, acct.DID, acct.Password)
	if len(after.records) != len(before.records) || len(after.blobs) != len(before.blobs) {
		t.Errorf("B has %d records and %d blobs, A had %d and %d", len(after.records), len(after.blobs), len(before.records), len(before.blobs))
	}
	for k, v := range before.records {
		if after.records[k] != v {
			t.Errorf("record %s differs", k)
		}
	}
	b := login(t, net.B.URL, acct.DID, acct.Password)
	if rs, err := b.GetRepoStatus(ctx, acct.DID); err != nil || !rs.Active {
		t.Errorf("B: %+v %v", rs, err)
	}
	if rs, err := pds.New(net.A.URL, pds.Options{}).GetRepoStatus(ctx, acct.DID); err != nil || rs.Active {
		t.Errorf("A: %+v %v", rs, err)
	}
}
