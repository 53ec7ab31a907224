package fakenet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/plc"
)

// recorder is a transport that remembers the Authorization header of the
// last request to each path, so tests can look inside the tokens the real
// client actually sends.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	auth map[string]string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.auth[req.URL.Path] = req.Header.Get("Authorization")
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) bearer(path string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.TrimPrefix(r.auth[path], "Bearer ")
}

func recordingClient(url string) (*pds.Client, *recorder) {
	rec := &recorder{base: pds.NewTransport(4), auth: map[string]string{}}
	return pds.New(url, pds.Options{HTTPClient: &http.Client{Transport: rec}}), rec
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWT part %d: %v", i, err)
	}
	return m
}

// world is one PLC, an old PDS holding alice (whose DID has the user key
// first in rotationKeys) and a new PDS.
type world struct {
	plc      *fakenet.PLC
	old, new *fakenet.PDS
	userKey  *atcrypto.PrivateKeyK256
	did      string
}

const (
	alicePassword = "alice-password-1"
	aliceAppPass  = "abcd-efgh-ijkl-mnop"
)

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{plc: fakenet.NewPLC(t), userKey: fakenet.Key(t)}
	w.old = fakenet.NewPDS(t, w.plc, fakenet.PDSOptions{})
	w.new = fakenet.NewPDS(t, w.plc, fakenet.PDSOptions{})
	w.did = w.old.AddAccount(fakenet.AccountSpec{
		Handle:       "alice.test",
		Email:        "alice@mail.test",
		Password:     alicePassword,
		AppPasswords: []fakenet.AppPassword{{Name: "cli", Password: aliceAppPass}},
		RecoveryKey:  fakenet.DIDKey(t, w.userKey),
	})
	return w
}

func TestLoginPasswordAndAppPassword(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)

	for _, tc := range []struct {
		name, identifier, password, scope string
	}{
		{"password by handle", "alice.test", alicePassword, fakenet.ScopeAccess},
		{"password by email", "ALICE@mail.test", alicePassword, fakenet.ScopeAccess},
		{"password by DID", w.did, alicePassword, fakenet.ScopeAccess},
		{"app password", "alice.test", aliceAppPass, fakenet.ScopeAppPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := recordingClient(w.old.URL)
			s, err := c.Login(ctx, tc.identifier, tc.password, "")
			if err != nil {
				t.Fatal(err)
			}
			if s.DID != w.did || s.Handle != "alice.test" || !s.Active || s.Email != "alice@mail.test" {
				t.Fatalf("session = %+v", s)
			}
			if _, err := c.GetSession(ctx); err != nil {
				t.Fatal(err)
			}
			tok := rec.bearer("/xrpc/com.atproto.server.getSession")
			claims := jwtPart(t, tok, 1)
			if claims["scope"] != tc.scope || claims["sub"] != w.did || claims["aud"] != w.old.ServiceDID() {
				t.Fatalf("access JWT claims = %v", claims)
			}
			if _, ok := claims["exp"].(float64); !ok {
				t.Fatalf("access JWT has no exp: %v", claims)
			}
			if h := jwtPart(t, tok, 0); h["typ"] != "at+jwt" || h["alg"] != "HS256" {
				t.Fatalf("access JWT header = %v", h)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		_, err := pds.New(w.old.URL, pds.Options{}).Login(ctx, "alice.test", "nope", "")
		var ae *pds.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Name != "AuthenticationRequired" || ae.Message != "Invalid identifier or password" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("app password may not activate", func(t *testing.T) {
		c := loggedIn(t, w.old.URL, "alice.test", aliceAppPass)
		err := c.ActivateAccount(ctx)
		if pds.ErrorName(err) != "InvalidToken" || !strings.Contains(err.Error(), "Bad token scope") {
			t.Fatalf("err = %v", err)
		}
		_, err = c.GetServiceAuth(ctx, w.new.ServiceDID(), "com.atproto.server.createAccount", time.Minute)
		if pds.ErrorName(err) != "InvalidRequest" || !strings.Contains(err.Error(), "insufficient access") {
			t.Fatalf("service auth with app password: %v", err)
		}
	})

	t.Run("createAppPassword", func(t *testing.T) {
		loggedIn(t, w.old.URL, "alice.test", alicePassword)
		// The client has no createAppPassword; call it by hand with a
		// fresh access token.
		login := postJSON(t, w.old.URL+"/xrpc/com.atproto.server.createSession", "",
			map[string]string{"identifier": "alice.test", "password": alicePassword})
		out := postJSON(t, w.old.URL+"/xrpc/com.atproto.server.createAppPassword", login["accessJwt"].(string),
			map[string]any{"name": "new-one", "privileged": true})
		pw, _ := out["password"].(string)
		if len(pw) != 19 || out["name"] != "new-one" || out["privileged"] != true || out["createdAt"] == nil {
			t.Fatalf("createAppPassword = %v", out)
		}
		c2, rec := recordingClient(w.old.URL)
		if _, err := c2.Login(ctx, "alice.test", pw, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.GetSession(ctx); err != nil {
			t.Fatal(err)
		}
		if s := jwtPart(t, rec.bearer("/xrpc/com.atproto.server.getSession"), 1)["scope"]; s != fakenet.ScopeAppPassPrivileged {
			t.Fatalf("scope = %v", s)
		}
	})

	t.Run("auth factor", func(t *testing.T) {
		did := w.old.AddAccount(fakenet.AccountSpec{Handle: "bob.test", Password: "pw", AuthFactorToken: "12345-ABCDE"})
		c := pds.New(w.old.URL, pds.Options{})
		_, err := c.Login(ctx, "bob.test", "pw", "")
		if pds.ErrorName(err) != "AuthFactorTokenRequired" {
			t.Fatalf("err = %v", err)
		}
		s, err := c.Login(ctx, "bob.test", "pw", "12345-ABCDE")
		if err != nil || s.DID != did {
			t.Fatalf("login with code: %v %+v", err, s)
		}
	})
}

func postJSON(t *testing.T, url, bearer string, in any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %v: %s", url, err, raw)
	}
	return out
}

func TestRepoStatus(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c := pds.New(w.old.URL, pds.Options{})

	st, err := c.GetRepoStatus(ctx, w.did)
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := w.old.Account(w.did)
	if st.DID != w.did || !st.Active || st.Status != "" || st.Rev == "" || st.Rev != acct.Rev {
		t.Fatalf("status = %+v, account rev %q", st, acct.Rev)
	}

	_, err = c.GetRepoStatus(ctx, "did:plc:unknownunknownunknown00")
	if pds.ErrorName(err) != "RepoNotFound" {
		t.Fatalf("unknown DID: %v", err)
	}
	var ae *pds.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || pds.IsTransient(err) {
		t.Fatalf("unknown DID: %#v", err)
	}

	w.old.SetActive(w.did, false)
	st, err = c.GetRepoStatus(ctx, w.did)
	if err != nil || st.Active || st.Status != "deactivated" || st.Rev != "" {
		t.Fatalf("deactivated: %+v %v", st, err)
	}

	// getLatestCommit: a deactivated repo answers only its owner.
	if _, _, err := c.GetLatestCommit(ctx, w.did); pds.ErrorName(err) != "RepoDeactivated" {
		t.Fatalf("anonymous getLatestCommit: %v", err)
	}
	if _, err := c.Login(ctx, "alice.test", alicePassword, ""); err != nil {
		t.Fatal(err)
	}
	w.old.SetCommit(w.did, "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxdgeqqfz7tjw4dhsbe", "3lzzzzzzzzz22")
	cid, rev, err := c.GetLatestCommit(ctx, w.did)
	if err != nil || cid != "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxdgeqqfz7tjw4dhsbe" || rev != "3lzzzzzzzzz22" {
		t.Fatalf("owner getLatestCommit: %q %q %v", cid, rev, err)
	}
	s, err := c.GetSession(ctx)
	if err != nil || s.Active || s.Status != "deactivated" {
		t.Fatalf("session of deactivated account: %+v %v", s, err)
	}

	// resolveHandle refuses a deactivated account.
	if _, err := c.ResolveHandle(ctx, "alice.test"); pds.ErrorName(err) != "InvalidRequest" {
		t.Fatalf("resolveHandle of deactivated: %v", err)
	}
	w.old.SetActive(w.did, true)
	if did, err := c.ResolveHandle(ctx, "alice.test"); err != nil || did != w.did {
		t.Fatalf("resolveHandle: %q %v", did, err)
	}
}

// migrate runs the account and identity steps of a migration from old to
// new through the real clients and returns the logged-in new client and
// the submitted operation.
func migrate(t *testing.T, w *world) (*pds.Client, *didplc.RegularOp) {
	t.Helper()
	ctx := context.Background()
	oldC := loggedIn(t, w.old.URL, "alice.test", alicePassword)
	info, err := pds.New(w.new.URL, pds.Options{}).DescribeServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.DID != w.new.ServiceDID() || len(info.AvailableUserDomains) == 0 {
		t.Fatalf("describeServer = %+v", info)
	}
	tok, err := oldC.GetServiceAuth(ctx, info.DID, "com.atproto.server.createAccount", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	newC := pds.New(w.new.URL, pds.Options{})
	newC.SetServiceAuth(tok)
	s, err := newC.CreateAccount(ctx, pds.CreateAccountInput{DID: w.did, Handle: "alice.test", Email: "alice@mail.test", Password: alicePassword})
	if err != nil {
		t.Fatal(err)
	}
	if s.DID != w.did {
		t.Fatalf("createAccount DID = %s", s.DID)
	}
	if s, err := newC.GetSession(ctx); err != nil || s.Active || s.Status != "deactivated" {
		t.Fatalf("new account session: %+v %v", s, err)
	}
	// Activation before the PLC update fails on the first check.
	if err := newC.ActivateAccount(ctx); err == nil || !strings.Contains(err.Error(), "Server rotation key not included in PLC DID data") {
		t.Fatalf("early activate: %v", err)
	}

	creds := mustCreds(t, newC)
	oldCreds := mustCreds(t, oldC)
	pc := plc.NewClient(w.plc.URL, nil)
	st := mustState(t, pc, w.did)
	op, raw := moveTo(t, w, st, creds, oldCreds.RotationKeys)
	if err := newC.SubmitPlcOperation(ctx, raw); err != nil {
		t.Fatal(err)
	}
	return newC, op
}

func TestPLCUpdateThroughSubmitPlcOperation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	newC, op := migrate(t, w)

	pc := plc.NewClient(w.plc.URL, nil)
	log, err := pc.AuditLog(ctx, w.did)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[1].CID != plc.OpCID(op) || log[1].Nullified || log[0].DID != w.did {
		t.Fatalf("audit log = %+v", log)
	}
	if ok, err := pc.Applied(ctx, w.did, plc.OpCID(op)); err != nil || !ok {
		t.Fatalf("Applied = %v %v", ok, err)
	}
	st := mustState(t, pc, w.did) // verifies the whole log with didplc.VerifyOpLog
	if st.Endpoint() != w.new.PublicURL() || st.SigningKey() != fakenet.DIDKey(t, w.new.SigningKeyFor(w.did)) ||
		st.RotationKeys()[0] != fakenet.DIDKey(t, w.userKey) || !st.HasRotationKey(w.new.RotationKey()) || st.HasRotationKey(w.old.RotationKey()) {
		t.Fatalf("state after update: %+v", st.Op)
	}
	if fl := w.plc.Log(w.did); len(fl) != 2 || fl[1].CID != log[1].CID {
		t.Fatalf("PLC.Log = %+v", fl)
	}

	// The document as indigo's identity resolver reads it.
	dir := &identity.BaseDirectory{PLCURL: w.plc.URL}
	doc, err := dir.ResolveDID(ctx, syntax.DID(w.did))
	if err != nil {
		t.Fatal(err)
	}
	ident := identity.ParseIdentity(doc)
	if ident.PDSEndpoint() != w.new.PublicURL() {
		t.Fatalf("document endpoint = %q", ident.PDSEndpoint())
	}
	pub, err := ident.PublicKey()
	if err != nil || pub.DIDKey() != st.SigningKey() {
		t.Fatalf("document key = %v %v", pub, err)
	}
	if h, err := ident.DeclaredHandle(); err != nil || h.String() != "alice.test" {
		t.Fatalf("handle = %v %v", h, err)
	}
	var data map[string]any
	getJSON(t, w.plc.URL+"/"+w.did+"/data", &data)
	if data["did"] != w.did || data["rotationKeys"] == nil || data["services"] == nil {
		t.Fatalf("/data = %v", data)
	}

	// Now the new PDS accepts the account.
	as, err := newC.CheckAccountStatus(ctx)
	if err != nil || as.Activated || !as.ValidDid {
		t.Fatalf("checkAccountStatus = %+v %v", as, err)
	}
	if err := newC.ActivateAccount(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := newC.GetRepoStatus(ctx, w.did); err != nil || !st.Active {
		t.Fatalf("new repo status = %+v %v", st, err)
	}
	if a, _ := w.new.Account(w.did); !a.Active() {
		t.Fatalf("new account not active")
	}
	if n := w.new.Calls("com.atproto.identity.submitPlcOperation"); n != 1 {
		t.Fatalf("submitPlcOperation calls = %d", n)
	}
	if n := w.plc.Calls("POST /{did}"); n != 1 {
		t.Fatalf("PLC POST calls = %d", n)
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func TestPLCRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	pc := plc.NewClient(w.plc.URL, nil)
	st := mustState(t, pc, w.did)
	stranger := fakenet.Key(t)

	t.Run("bad signature, straight to the PLC", func(t *testing.T) {
		op := signingKeyUpdate(t, st, stranger, stranger)
		err := pc.Submit(ctx, w.did, op)
		var se *plc.SubmitError
		if !errors.As(err, &se) || se.Status != 400 || !strings.HasPrefix(se.Message, "Invalid signature on op: {") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("bad signature, through the PDS", func(t *testing.T) {
		c := loggedIn(t, w.old.URL, "alice.test", alicePassword)
		op := signingKeyUpdate(t, st, w.old.SigningKeyFor(w.did), stranger)
		raw, _ := plc.OpJSON(op)
		err := c.SubmitPlcOperation(ctx, raw)
		if pds.ErrorName(err) != "InvalidRequest" || !strings.Contains(err.Error(), "Invalid signature on op") {
			t.Fatalf("err = %v", err)
		}
		// The PDS's own checks come first.
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: w.old.PublicURL() + "/"}
		_ = plc.Sign(op, w.userKey)
		raw, _ = plc.OpJSON(op)
		if err := c.SubmitPlcOperation(ctx, raw); err == nil || !strings.Contains(err.Error(), "Incorrect endpoint on atproto_pds service") {
			t.Fatalf("trailing slash: %v", err)
		}
	})

	t.Run("unknown prev", func(t *testing.T) {
		op, _ := plc.BuildSigningKeyUpdate(st, fakenet.DIDKey(t, stranger))
		bogus := "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxdgeqqfz7tjw4dhsbe"
		op.Prev = &bogus
		_ = plc.Sign(op, w.userKey)
		var se *plc.SubmitError
		if err := pc.Submit(ctx, w.did, op); !errors.As(err, &se) || se.Message != "Operations not correctly ordered" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("resubmitting an applied op", func(t *testing.T) {
		op := signingKeyUpdate(t, st, stranger, w.userKey)
		if err := pc.Submit(ctx, w.did, op); err != nil {
			t.Fatal(err)
		}
		var se *plc.SubmitError
		if err := pc.Submit(ctx, w.did, op); !errors.As(err, &se) || !strings.HasPrefix(se.Message, "Invalid signature on op") {
			t.Fatalf("second submit: %v", err)
		}
	})

	t.Run("not an operation", func(t *testing.T) {
		resp, err := http.Post(w.plc.URL+"/"+w.did, "application/json", strings.NewReader(`{"type":"","prev":null}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"message":"Not a valid operation: {`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})

	t.Run("unknown DID", func(t *testing.T) {
		if _, err := pc.AuditLog(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, plc.ErrDIDNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

// A higher rotation key undoes a lower key's operation within 72 hours;
// after that the directory refuses.
func TestPLCNullification(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	now := time.Now()
	w.plc.SetClock(func() time.Time { return now })

	// The old PDS's key (second) points the DID somewhere else...
	hostile := w.plc.Update(w.did, w.old.RotationPrivateKey(), func(op *didplc.RegularOp) {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: "https://evil.example"}
	})
	// ...and the user key (first) overrides it from the op before.
	log := w.plc.Log(w.did)
	now = now.Add(time.Hour)
	op, err := plc.BuildSigningKeyUpdate(&plc.State{DID: w.did, Head: log[0], Op: *log[0].Operation.Regular}, fakenet.DIDKey(t, fakenet.Key(t)))
	if err != nil {
		t.Fatal(err)
	}
	op.Sig = nil
	if err := plc.Sign(op, w.userKey); err != nil {
		t.Fatal(err)
	}
	if err := plc.NewClient(w.plc.URL, nil).Submit(ctx, w.did, op); err != nil {
		t.Fatal(err)
	}
	st := mustState(t, plc.NewClient(w.plc.URL, nil), w.did)
	if len(st.Log) != 3 || st.Log[1].CID != hostile || !st.Log[1].Nullified || st.Head.CID != plc.OpCID(op) {
		t.Fatalf("log after recovery: %+v", st.Log)
	}
	if st.Endpoint() != w.old.PublicURL() {
		t.Fatalf("endpoint = %s", st.Endpoint())
	}

	// Too late: 73 hours after the op to undo.
	w.plc.Update(w.did, w.old.RotationPrivateKey(), nil)
	now = now.Add(73 * time.Hour)
	log = w.plc.Log(w.did)
	late, _ := plc.BuildAddRotationKey(&plc.State{DID: w.did, Head: log[2], Op: *log[2].Operation.Regular}, fakenet.DIDKey(t, fakenet.Key(t)))
	late.Sig = nil
	_ = plc.Sign(late, w.userKey)
	var pe *fakenet.PLCError
	if err := w.plc.Submit(w.did, late); !errors.As(err, &pe) || !strings.Contains(pe.Message, "72 hr recovery window") {
		t.Fatalf("late recovery: %v", err)
	}
}

func TestDown(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fast := pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}
	c := pds.New(w.old.URL, fast)
	if _, err := c.GetRepoStatus(ctx, w.did); err != nil {
		t.Fatal(err)
	}

	w.old.Down()
	_, err := c.GetRepoStatus(ctx, w.did)
	if err == nil || !pds.IsTransient(err) {
		t.Fatalf("down: err = %v, transient %v", err, pds.IsTransient(err))
	}
	if pds.ErrorName(err) != "" {
		t.Fatalf("down error is an API error: %v", err)
	}
	if _, err := c.Login(ctx, "alice.test", alicePassword, ""); err == nil || !pds.IsTransient(err) {
		t.Fatalf("down login: %v", err)
	}
	if n := w.old.Calls("com.atproto.sync.getRepoStatus"); n < 3 {
		t.Fatalf("getRepoStatus calls = %d, want the first plus the dropped attempts", n)
	}

	w.old.Up()
	if st, err := c.GetRepoStatus(ctx, w.did); err != nil || !st.Active {
		t.Fatalf("up again: %+v %v", st, err)
	}

	w.plc.Down()
	pc := plc.NewClient(w.plc.URL, nil)
	pc.Retry = fast.Retry
	if _, err := pc.AuditLog(ctx, w.did); err == nil || !pds.IsTransient(err) {
		t.Fatalf("PLC down: %v", err)
	}
	// A PDS whose PLC is down cannot check the DID document.
	nc := pds.New(w.new.URL, fast)
	did2 := w.new.AddAccount(fakenet.AccountSpec{DID: w.did, Handle: "alice.test", Password: "pw", Deactivated: true})
	if _, err := nc.Login(ctx, did2, "pw", ""); err != nil {
		t.Fatal(err)
	}
	if err := nc.ActivateAccount(ctx); pds.ErrorName(err) != "InternalServerError" {
		t.Fatalf("activate with PLC down: %v", err)
	}
	w.plc.Up()
}

func TestFailAndExpiredTokens(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c := loggedIn(t, w.old.URL, "alice.test", alicePassword)

	w.old.ExpireAccessTokens()
	if _, err := c.GetSession(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.old.Calls("com.atproto.server.refreshSession"); n != 1 {
		t.Fatalf("refreshSession calls = %d", n)
	}

	w.old.Fail("com.atproto.server.checkAccountStatus", 1, 400, "InvalidRequest", "injected")
	if _, err := c.CheckAccountStatus(ctx); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("injected failure: %v", err)
	}
	if _, err := c.CheckAccountStatus(ctx); err != nil {
		t.Fatalf("after the injected failure: %v", err)
	}
}

func TestBlobsAndImport(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	img := []byte("\x89PNG fake image")
	cid := w.old.AddBlob(w.did, img, "image/png")
	if cid != fakenet.BlobCID(img) || !strings.HasPrefix(cid, "bafkrei") {
		t.Fatalf("blob CID = %s", cid)
	}
	w.old.Modify(w.did, func(a *fakenet.Account) { a.RepoCAR = []byte("car bytes") })

	oldC := pds.New(w.old.URL, pds.Options{})
	cids, next, err := oldC.ListBlobs(ctx, w.did, "", 100)
	if err != nil || len(cids) != 1 || cids[0] != cid || next != cid {
		t.Fatalf("listBlobs = %v %q %v", cids, next, err)
	}
	var got []byte
	err = oldC.FetchBlob(ctx, w.did, cid, func(body io.Reader, size int64, ct string) error {
		got, _ = io.ReadAll(body)
		if size != int64(len(img)) || ct != "image/png" {
			t.Errorf("getBlob size %d type %q", size, ct)
		}
		return nil
	})
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("getBlob = %q %v", got, err)
	}
	if _, err := oldC.DownloadRepo(ctx, w.did, "", t.TempDir()+"/repo.car", nil, nil); err != nil {
		t.Fatal(err)
	}

	newC, _ := migrate(t, w)
	w.new.ExpectBlob(w.did, cid, "at://"+w.did+"/app.bsky.feed.post/3k2")
	if err := newC.ImportRepo(ctx, bytes.NewReader([]byte("not really a CAR")), 16, nil); err != nil {
		t.Fatal(err)
	}
	missing, err := newC.ListMissingBlobs(ctx)
	if err != nil || len(missing) != 1 || missing[0].CID != cid || !strings.HasPrefix(missing[0].RecordURI, "at://") {
		t.Fatalf("listMissingBlobs = %+v %v", missing, err)
	}
	up, err := newC.UploadBlob(ctx, bytes.NewReader(img), int64(len(img)), "image/png")
	if err != nil || up != cid {
		t.Fatalf("uploadBlob = %q %v", up, err)
	}
	if missing, err := newC.ListMissingBlobs(ctx); err != nil || len(missing) != 0 {
		t.Fatalf("listMissingBlobs after upload = %+v %v", missing, err)
	}
	w.new.SetCommit(w.did, "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxdgeqqfz7tjw4dhsbe", "3laaaaaaaaa22")
	as, err := newC.CheckAccountStatus(ctx)
	if err != nil || as.RepoCommit != "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxdgeqqfz7tjw4dhsbe" || as.RepoRev != "3laaaaaaaaa22" ||
		as.ExpectedBlobs != 1 || as.ImportedBlobs != 1 {
		t.Fatalf("checkAccountStatus = %+v %v", as, err)
	}
	a, _ := w.new.Account(w.did)
	if a.Imports != 1 || string(a.RepoCAR) != "not really a CAR" {
		t.Fatalf("account after import: imports %d car %q", a.Imports, a.RepoCAR)
	}

	prefs := json.RawMessage(`[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`)
	if err := newC.PutPreferences(ctx, prefs); err != nil {
		t.Fatal(err)
	}
	if got, err := newC.GetPreferences(ctx); err != nil || string(got) != string(prefs) {
		t.Fatalf("preferences = %s %v", got, err)
	}
}

func TestCreateAccountServiceAuth(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	create := func(token string) error {
		c := pds.New(w.new.URL, pds.Options{})
		c.SetServiceAuth(token)
		_, err := c.CreateAccount(ctx, pds.CreateAccountInput{DID: w.did, Handle: "alice.test", Email: "alice@mail.test", Password: "x"})
		return err
	}
	if err := create(""); pds.ErrorName(err) != "AuthenticationRequired" || !strings.Contains(err.Error(), "Missing auth to create account with did") {
		t.Fatalf("no token: %v", err)
	}
	tok, err := plc.ServiceAuthToken(w.did, w.new.ServiceDID(), "com.atproto.server.createAccount", time.Minute, fakenet.Key(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := create(tok); pds.ErrorName(err) != "BadJwtSignature" {
		t.Fatalf("wrong key: %v", err)
	}
	tok, _ = plc.ServiceAuthToken(w.did, "did:web:elsewhere.test", "com.atproto.server.createAccount", time.Minute, w.old.SigningKeyFor(w.did))
	if err := create(tok); pds.ErrorName(err) != "BadJwtAudience" {
		t.Fatalf("wrong aud: %v", err)
	}

	// Restore flow: the user key installs a temporary signing key, which
	// then signs the service auth.
	temp := fakenet.Key(t)
	w.plc.Update(w.did, w.userKey, func(op *didplc.RegularOp) { op.VerificationMethods["atproto"] = fakenet.DIDKey(t, temp) })
	tok, _ = plc.ServiceAuthToken(w.did, w.new.ServiceDID(), "com.atproto.server.createAccount", time.Minute, temp)
	if err := create(tok); err != nil {
		t.Fatalf("temp key: %v", err)
	}
	if err := create(tok); pds.ErrorName(err) != "AlreadyExists" {
		t.Fatalf("second createAccount: %v", err)
	}
	a, ok := w.new.Account(w.did)
	if !ok || a.Active() || a.Handle != "alice.test" {
		t.Fatalf("created account = %+v %v", a, ok)
	}

	// Without a DID, the PDS makes a did:plc with the recovery key first.
	rk := fakenet.DIDKey(t, fakenet.Key(t))
	c := pds.New(w.new.URL, pds.Options{})
	s, err := c.CreateAccount(ctx, pds.CreateAccountInput{Handle: "carol.test", Email: "carol@mail.test", Password: "pw", RecoveryKey: rk})
	if err != nil || !s.Active || !strings.HasPrefix(s.DID, "did:plc:") {
		t.Fatalf("fresh account: %+v %v", s, err)
	}
	st, err := plc.NewClient(w.plc.URL, nil).State(ctx, s.DID)
	if err != nil || st.RotationKeys()[0] != rk || !st.HasRotationKey(w.new.RotationKey()) || st.Endpoint() != w.new.PublicURL() {
		t.Fatalf("fresh DID state: %+v %v", st, err)
	}
}

func TestEmailTokenFlow(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	oldC := loggedIn(t, w.old.URL, "alice.test", alicePassword)
	w.new.AddAccount(fakenet.AccountSpec{DID: w.did, Handle: "alice.test", Password: "pw", Deactivated: true})
	newC := loggedIn(t, w.new.URL, w.did, "pw")
	creds := mustCreds(t, newC)
	if err := oldC.RequestPlcOperationSignature(ctx); err != nil {
		t.Fatal(err)
	}
	token := w.old.PLCToken(w.did)
	if token == "" {
		t.Fatal("no PLC token")
	}
	creds.RotationKeys = append([]string{fakenet.DIDKey(t, w.userKey)}, creds.RotationKeys...)
	raw, err := oldC.SignPlcOperation(ctx, token, creds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plc.ParseOp(raw); err != nil {
		t.Fatalf("signed op: %v", err)
	}
	if err := newC.SubmitPlcOperation(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := newC.ActivateAccount(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := oldC.SignPlcOperation(ctx, token, creds); pds.ErrorName(err) != "InvalidToken" {
		t.Fatalf("token reuse: %v", err)
	}
}

// A lost response: the call took effect, the client saw a network error
// and, the call being unsafe, did not resend it.
func TestLoseResponse(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)

	oldC := loggedIn(t, w.old.URL, "alice.test", alicePassword)
	tok, err := oldC.GetServiceAuth(ctx, w.new.ServiceDID(), "com.atproto.server.createAccount", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w.new.LoseResponse("com.atproto.server.createAccount", 1)
	newC := pds.New(w.new.URL, pds.Options{})
	newC.SetServiceAuth(tok)
	in := pds.CreateAccountInput{DID: w.did, Handle: "alice.test", Email: "alice@mail.test", Password: alicePassword}
	if _, err := newC.CreateAccount(ctx, in); err == nil || !pds.IsTransient(err) {
		t.Fatalf("lost createAccount: %v", err)
	}
	if n := w.new.Calls("com.atproto.server.createAccount"); n != 1 {
		t.Fatalf("createAccount calls = %d, want 1 (unsafe, not resent)", n)
	}
	if a, ok := w.new.Account(w.did); !ok || a.Active() {
		t.Fatalf("account after lost createAccount: %+v %v", a, ok)
	}
	newC.SetServiceAuth(tok)
	if _, err := newC.CreateAccount(ctx, in); pds.ErrorName(err) != "AlreadyExists" {
		t.Fatalf("createAccount again: %v", err)
	}
	if _, err := newC.Login(ctx, "alice.test", alicePassword, ""); err != nil {
		t.Fatal(err)
	}

	pc := plc.NewClient(w.plc.URL, nil)
	st := mustState(t, pc, w.did)
	creds := mustCreds(t, newC)
	op, raw := moveTo(t, w, st, creds, nil)
	w.new.LoseResponse("com.atproto.identity.submitPlcOperation", 1)
	if err := newC.SubmitPlcOperation(ctx, raw); err == nil || !pds.IsTransient(err) {
		t.Fatalf("lost submit: %v", err)
	}
	if n := w.new.Calls("com.atproto.identity.submitPlcOperation"); n != 1 {
		t.Fatalf("submit calls = %d", n)
	}
	if ok, err := pc.Applied(ctx, w.did, plc.OpCID(op)); err != nil || !ok {
		t.Fatalf("lost submit not applied: %v %v", ok, err)
	}

	// The same on the directory itself: the op is applied, and the client,
	// finding it in the audit log, reports success without posting again.
	op2, _ := plc.BuildAddRotationKey(mustState(t, pc, w.did), fakenet.DIDKey(t, fakenet.Key(t)))
	_ = plc.Sign(op2, w.userKey)
	w.plc.LoseResponse("POST /{did}", 1)
	posts := w.plc.Calls("POST /{did}")
	if err := pc.Submit(ctx, w.did, op2); err != nil {
		t.Fatalf("lost PLC submit: %v", err)
	}
	if n := w.plc.Calls("POST /{did}") - posts; n != 1 {
		t.Fatalf("PLC submit calls = %d", n)
	}
	if ok, _ := pc.Applied(ctx, w.did, plc.OpCID(op2)); !ok {
		t.Fatal("lost PLC submit not applied")
	}
}

func mustState(t *testing.T, pc *plc.Client, did string) *plc.State {
	t.Helper()
	st, err := pc.State(context.Background(), did)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// loggedIn returns a client of the PDS at url logged in with a password.
func loggedIn(t *testing.T, url, identifier, password string) *pds.Client {
	t.Helper()
	c := pds.New(url, pds.Options{})
	if _, err := c.Login(context.Background(), identifier, password, ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// mustCreds is the client's getRecommendedDidCredentials.
func mustCreds(t *testing.T, c *pds.Client) *pds.Credentials {
	t.Helper()
	creds, err := c.GetRecommendedDidCredentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// moveTo builds the update that points the DID at the PDS that
// recommended creds (dropping the rotation keys in drop), signed with the
// user key, and returns it with its JSON.
func moveTo(t *testing.T, w *world, st *plc.State, creds *pds.Credentials, drop []string) (*didplc.RegularOp, json.RawMessage) {
	t.Helper()
	op, err := plc.BuildUpdate(st, plc.Intent{
		Endpoint:         creds.Services["atproto_pds"].Endpoint,
		SigningKey:       creds.VerificationMethods["atproto"],
		PDSRotationKeys:  creds.RotationKeys,
		DropRotationKeys: drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := plc.Sign(op, w.userKey); err != nil {
		t.Fatal(err)
	}
	raw, err := plc.OpJSON(op)
	if err != nil {
		t.Fatal(err)
	}
	return op, raw
}

// signingKeyUpdate is an update of st to signing key k, signed by signer.
func signingKeyUpdate(t *testing.T, st *plc.State, k, signer atcrypto.PrivateKey) *didplc.RegularOp {
	t.Helper()
	op, err := plc.BuildSigningKeyUpdate(st, fakenet.DIDKey(t, k))
	if err != nil {
		t.Fatal(err)
	}
	if err := plc.Sign(op, signer); err != nil {
		t.Fatal(err)
	}
	return op
}
