package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/identity"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// A did:web account: no PLC operation, the run writes the document to
// publish, pauses until it is published, then finishes.

type webMove struct {
	*fakeMove
	host *fakenet.DIDWebHost
	repo *repotest.Repo
}

// newWebMove is web.test, a did:web account on A with a real repo, its
// document naming A and a service of the user's own.
func newWebMove(t *testing.T) *webMove {
	t.Helper()
	host := fakenet.NewDIDWebHost(t)
	f := &fakeMove{plc: fakenet.NewPLC(t), did: host.DID}
	f.a = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	f.b = fakenet.NewPDS(t, f.plc, fakenet.PDSOptions{})
	sig := fakenet.Key(t)
	car, r, err := repotest.BuildCAR(8, 2, sig, f.did)
	if err != nil {
		t.Fatal(err)
	}
	f.a.AddAccount(fakenet.AccountSpec{DID: f.did, Handle: "web.test", Password: fakePassword, Email: "web@mail.test", SigningKey: sig,
		RepoCAR: car, CommitCID: r.CommitCID.String(), Rev: r.Rev})
	for c, data := range r.Blobs {
		f.a.AddBlob(f.did, data, "image/jpeg")
		f.a.ExpectBlob(f.did, c, "at://"+f.did+"/app.bsky.feed.post/x")
	}
	doc, _ := json.Marshal(map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1"},
		"id":          f.did,
		"alsoKnownAs": []string{"at://web.test"},
		"verificationMethod": []any{map[string]any{"id": f.did + "#atproto", "type": "Multikey", "controller": f.did,
			"publicKeyMultibase": strings.TrimPrefix(fakenet.DIDKey(t, sig), "did:key:")}},
		"service": []any{
			map[string]any{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": f.a.PublicURL()},
			map[string]any{"id": "#mine", "type": "Something", "serviceEndpoint": "https://mine.example"},
		},
	})
	host.Publish(doc)
	return &webMove{fakeMove: f, host: host, repo: r}
}

// webEndpoint is the PDS the published document names.
func (w *webMove) webEndpoint(t *testing.T) string {
	t.Helper()
	st, err := identity.Resolver{Servers: servers.New(nil, nil, nil, nil)}.State(context.Background(), w.did)
	if err != nil {
		t.Fatal(err)
	}
	return st.Endpoint()
}

func TestDIDWebMove(t *testing.T) {
	w := newWebMove(t)
	o := w.opts(t)
	_, err := Run(context.Background(), o)
	var pe *failure.PauseError
	if !errors.Is(err, failure.ErrPaused) || !errors.As(err, &pe) || !strings.Contains(pe.Hint, "publish") {
		t.Fatalf("want a pause to publish the document (exit 3), got %v", err)
	}
	if w.webEndpoint(t) != w.a.PublicURL() || !active(t, w.a, w.did) {
		t.Fatal("the move went past the publication")
	}
	if n := len(w.plc.Log(w.did)); n != 0 {
		t.Fatalf("%d PLC operations for a did:web", n)
	}
	next, err := os.ReadFile(filepath.Join(o.StateDir, identity.DIDWebFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := w.b.Account(w.did)
	for _, want := range []string{w.b.PublicURL(), "https://mine.example", "at://web.test", strings.TrimPrefix(b.SigningKey, "did:key:")} {
		if !strings.Contains(string(next), want) {
			t.Errorf("the document to publish lacks %s:\n%s", want, next)
		}
	}

	// Not published yet: the same pause, nothing else.
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("before publication: %v", err)
	}

	w.host.Publish(next)
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("after publication: %v", err)
	}
	if w.webEndpoint(t) != w.b.PublicURL() || !active(t, w.b, w.did) || active(t, w.a, w.did) {
		t.Fatal("want the new account active and the old one deactivated")
	}
	if b, _ = w.b.Account(w.did); b.Imported != w.repo.CommitCID.String() || len(b.Blobs) != 2 {
		t.Errorf("new account: commit %s, %d blobs", b.CommitCID, len(b.Blobs))
	}
	if note := res.State.Stages[stage.Identity].Note; !strings.Contains(note, "already points at the new PDS") {
		t.Errorf("identity note %q", note)
	}
}

// A rotation key has nothing to sign for a did:web: bad input, in the dry
// run and the real one.
func TestDIDWebRotationKey(t *testing.T) {
	w := newWebMove(t)
	o := w.opts(t)
	o.RotationKey = fakenet.Key(t)
	r, err := DryRun(context.Background(), o)
	if err != nil || r.OK() || !listed(r.Blockers, "a did:web identity has no rotation keys") || r.PLC.Method != "did-web" {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	_, err = Run(context.Background(), o)
	wantInput(t, err, "a did:web identity has no rotation keys")
	noAccountOn(t, w.b, w.did)
}

// A did:web whose document cannot be read is bad input naming where it
// must be published.
func TestDIDWebUnreadable(t *testing.T) {
	w := newWebMove(t)
	w.host.Publish([]byte("not json"))
	_, err := Run(context.Background(), w.opts(t))
	wantInput(t, err, "did:web document")
	wantHint(t, err, "/.well-known/did.json")
}

// A document published with the new endpoint but not the new PDS's
// signing key (edited by hand instead of publishing the written file)
// does not point the account at the new PDS: its commits would not
// verify. The old account must stay active and the run must not report
// the identity done: the planner takes the endpoint for the switch, so the
// deactivate-old guard checks the DID's signing key against the new PDS's
// (it once checked the endpoint and the new account only, and deactivated
// the old account before the final check found the key differed).
func TestDIDWebWrongKeyPublished(t *testing.T) {
	w := newWebMove(t)
	o := w.opts(t)
	if _, err := Run(context.Background(), o); !errors.Is(err, failure.ErrPaused) {
		t.Fatalf("first run: %v", err)
	}
	next, err := os.ReadFile(filepath.Join(o.StateDir, identity.DIDWebFile))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.a.Account(w.did)
	b, _ := w.b.Account(w.did)
	w.host.Publish([]byte(strings.ReplaceAll(string(next), strings.TrimPrefix(b.SigningKey, "did:key:"), strings.TrimPrefix(a.SigningKey, "did:key:"))))
	_, err = Run(context.Background(), o)
	if err == nil {
		t.Fatal("the run succeeded with the old signing key published")
	}
	if !active(t, w.a, w.did) {
		t.Errorf("the old account was deactivated while the DID names another signing key than the new PDS's (run: %v)", err)
	}
}
