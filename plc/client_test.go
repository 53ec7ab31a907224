package plc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/did-method-plc/go-didplc/didplc"
)

// fakePLC serves one DID's audit log and records submissions; a submission
// whose prev is not the head is refused like the real PLC does.
type fakePLC struct {
	t      *testing.T
	f      *fixture
	posted []byte
}

func (p *fakePLC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ua := r.Header.Get("User-Agent"); ua != "atmigrate-test" {
		p.t.Errorf("User-Agent = %q", ua)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/"+p.f.did+"/log/audit":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.f.log)
	case r.Method == http.MethodGet && r.URL.Path == "/"+p.f.did+"/data":
		st, err := StateFromLog(p.f.did, p.f.log)
		if err != nil {
			p.t.Fatal(err)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"did": p.f.did, "rotationKeys": st.Op.RotationKeys,
			"verificationMethods": st.Op.VerificationMethods, "alsoKnownAs": st.Op.AlsoKnownAs, "services": st.Op.Services})
	case r.Method == http.MethodGet:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"DID not registered"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/"+p.f.did:
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			p.t.Errorf("Content-Type = %q", ct)
		}
		p.posted, _ = io.ReadAll(r.Body)
		op, err := ParseOp(p.posted)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"Not a valid operation"}`)
			return
		}
		if *op.Prev != p.f.log[len(p.f.log)-1].CID {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"Operations not correctly ordered"}`)
			return
		}
		p.f.log = append(p.f.log, didplc.LogEntry{DID: p.f.did, Operation: didplc.OpEnum{Regular: op}, CID: OpCID(op), CreatedAt: ts(nowMinus(0))})
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func newTestClient(t *testing.T) (*Client, *fakePLC) {
	fake := &fakePLC{t: t, f: newFixture(t)}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL+"/", srv.Client())
	c.UserAgent = "atmigrate-test"
	c.Retry = fastRetry
	return c, fake
}

func TestClientAuditLogAndState(t *testing.T) {
	c, fake := newTestClient(t)
	ctx := context.Background()
	log, err := c.AuditLog(ctx, fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[1].CID != fake.f.log[1].CID || log[0].Operation.Regular == nil {
		t.Fatalf("log = %+v", log)
	}
	s, err := c.State(ctx, fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	if s.Head.CID != fake.f.log[1].CID || s.Endpoint() != "https://old.example" {
		t.Errorf("state head %s endpoint %s", s.Head.CID, s.Endpoint())
	}
	if _, err := c.AuditLog(ctx, "did:plc:unknownunknownunknown"); !errors.Is(err, ErrDIDNotFound) {
		t.Errorf("unknown DID: %v", err)
	}
	if _, err := c.AuditLog(ctx, "did:web:example.com"); err == nil {
		t.Error("did:web accepted")
	}
}

// The exact wire shape the PLC serves, to make sure it decodes.
func TestClientDecodesPLCAuditJSON(t *testing.T) {
	f := newFixture(t)
	gen := f.log[0].Operation.Regular
	raw := `[{"did":"` + f.did + `","operation":` + mustJSON(t, gen) + `,"cid":"` + f.log[0].CID + `","nullified":false,"createdAt":"` + f.log[0].CreatedAt + `"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, raw) }))
	defer srv.Close()
	s, err := NewClient(srv.URL, nil).State(context.Background(), f.did)
	if err != nil {
		t.Fatal(err)
	}
	if s.Handle() != "alice.old.test" || len(s.Log) != 1 {
		t.Errorf("state = %+v", s)
	}
}

func mustJSON(t *testing.T, op *didplc.RegularOp) string {
	b, err := OpJSON(op)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClientSubmitAndApplied(t *testing.T) {
	c, fake := newTestClient(t)
	ctx := context.Background()
	s, err := c.State(ctx, fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	op, err := BuildUpdate(s, fake.f.intent())
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(op, fake.f.user); err != nil {
		t.Fatal(err)
	}
	cid := OpCID(op)
	if ok, err := c.Applied(ctx, fake.f.did, cid); err != nil || ok {
		t.Fatalf("Applied before submit = %v, %v", ok, err)
	}
	if err := c.Submit(ctx, fake.f.did, op); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(fake.posted), `"type":"plc_operation"`) {
		t.Errorf("posted %s", fake.posted)
	}
	if ok, err := c.Applied(ctx, fake.f.did, cid); err != nil || !ok {
		t.Fatalf("Applied after submit = %v, %v", ok, err)
	}
	// The submitted op is a valid successor: the new state verifies.
	s2, err := c.State(ctx, fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Endpoint() != "https://new.example" {
		t.Errorf("endpoint after submit = %s", s2.Endpoint())
	}

	// Re-submitting surfaces the directory's own message.
	err = c.Submit(ctx, fake.f.did, op)
	var se *SubmitError
	if !errors.As(err, &se) || se.Status != 400 || se.Message != "Operations not correctly ordered" {
		t.Fatalf("resubmit: %#v", err)
	}
	if !strings.Contains(err.Error(), "Operations not correctly ordered") {
		t.Errorf("Error() = %s", err)
	}

	// A nullified op is not "applied".
	fake.f.log[len(fake.f.log)-1].Nullified = true
	if ok, err := c.Applied(ctx, fake.f.did, cid); err != nil || ok {
		t.Errorf("Applied on nullified = %v, %v", ok, err)
	}
}

func TestReadMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"message":"Invalid signature on op: {}"}`:        "Invalid signature on op: {}",
		`{"error":"InvalidRequest","message":"Bad thing"}`: "InvalidRequest: Bad thing",
		"<html>bad gateway</html>":                         "<html>bad gateway</html>",
		strings.Repeat("x", 1000):                          strings.Repeat("x", 300) + "…",
	} {
		if got := readMessage(strings.NewReader(body)); got != want {
			t.Errorf("readMessage(%.30q) = %.40q", body, got)
		}
	}
}

func TestClientDirectoryError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"message":"down for maintenance"}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, nil)
	c.Retry = fastRetry
	_, err := c.State(context.Background(), "did:plc:abcdefghijklmnopqrstuvwx")
	var de *DirectoryError
	if !errors.As(err, &de) || de.Status != 503 || !strings.Contains(err.Error(), "down for maintenance") {
		t.Errorf("err = %v", err)
	}
}
