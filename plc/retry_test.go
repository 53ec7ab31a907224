package plc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"
)

var fastRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRateLimitWait: 5 * time.Second}

// fault answers one request in place of the directory (next serves it for
// real, into whatever writer it is given).
type fault func(w http.ResponseWriter, r *http.Request, next http.Handler)

// faultyPLC puts queued faults in front of fakePLC. Routes are "GET
// /log/audit", "GET /data" and "POST": the method and the path after the
// DID.
type faultyPLC struct {
	fake *fakePLC

	mu     sync.Mutex
	faults map[string][]fault
	calls  map[string]int
	events []RetryEvent
}

func newFaultyPLC(t *testing.T) (*Client, *faultyPLC) {
	t.Helper()
	p := &faultyPLC{fake: &fakePLC{t: t, f: newFixture(t)}, faults: map[string][]fault{}, calls: map[string]int{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, srv.Client())
	c.UserAgent, c.Retry = "atmigrate-test", fastRetry
	c.OnRetry = func(e RetryEvent) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.events = append(p.events, e)
	}
	return c, p
}

func route(r *http.Request) string {
	if r.Method == http.MethodPost {
		return "POST"
	}
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return "GET /" + rest
}

func (p *faultyPLC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := route(r)
	p.calls[key]++
	if q := p.faults[key]; len(q) > 0 {
		p.faults[key] = q[1:]
		if q[0] != nil {
			q[0](w, r, p.fake)
			return
		}
	}
	p.fake.ServeHTTP(w, r)
}

// queue adds faults for the next requests to key; a nil fault passes one
// request through.
func (p *faultyPLC) queue(key string, fs ...fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[key] = append(p.faults[key], fs...)
}

func (p *faultyPLC) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[key]
}

func (p *faultyPLC) retries() []RetryEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]RetryEvent(nil), p.events...)
}

func status(code int, msg string, header ...string) fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"message":"`+msg+`"}`)
	}
}

// cutMidBody sends the real answer's headers and half its body, then
// drops the connection.
func cutMidBody(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	drop(w)
}

// loseAnswer lets the directory handle the request, then drops the
// connection before any answer: it took effect, the client never hears.
func loseAnswer(w http.ResponseWriter, r *http.Request, next http.Handler) {
	next.ServeHTTP(httptest.NewRecorder(), r)
	drop(w)
}

func drop(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// staleLog answers GET /log/audit with log, as a replica that has not
// caught up.
func staleLog(log []didplc.LogEntry) fault {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(log)
	}
}

// staleDoc answers GET /data with the document log ends in.
func staleDoc(t *testing.T, log []didplc.LogEntry) fault {
	st, err := StateFromLog(log[0].DID, log)
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"did": st.DID, "rotationKeys": st.Op.RotationKeys,
			"verificationMethods": st.Op.VerificationMethods, "alsoKnownAs": st.Op.AlsoKnownAs, "services": st.Op.Services})
	}
}

func repeat(n int, f fault) []fault {
	out := make([]fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// signedUpdate is the standard migration op, signed by the user key.
func signedUpdate(t *testing.T, c *Client, p *faultyPLC) *didplc.RegularOp {
	t.Helper()
	op, err := BuildUpdate(p.fake.f.state(), p.fake.f.intent())
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(op, p.fake.f.user); err != nil {
		t.Fatal(err)
	}
	return op
}

// submitted is a directory that has just taken the standard op; before is
// its log without it, what a lagging replica still serves.
func submitted(t *testing.T) (c *Client, p *faultyPLC, op *didplc.RegularOp, before []didplc.LogEntry) {
	t.Helper()
	c, p = newFaultyPLC(t)
	before = append([]didplc.LogEntry(nil), p.fake.f.log...)
	op = signedUpdate(t, c, p)
	if err := c.Submit(context.Background(), p.fake.f.did, op); err != nil {
		t.Fatal(err)
	}
	return c, p, op, before
}

func TestReadServerErrorRetried(t *testing.T) {
	c, p := newFaultyPLC(t)
	p.queue("GET /log/audit", status(500, "Internal Server Error"))
	st, err := c.State(context.Background(), p.fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	if st.Head.CID != p.fake.f.log[1].CID {
		t.Errorf("head %s", st.Head.CID)
	}
	ev := p.retries()
	if p.count("GET /log/audit") != 2 || len(ev) != 1 || ev[0].Attempt != 1 || ev[0].RateLimited ||
		ev[0].Method != "GET /"+p.fake.f.did+"/log/audit" || !strings.Contains(ev[0].Err.Error(), "HTTP 500") {
		t.Errorf("requests %d, events %+v", p.count("GET /log/audit"), ev)
	}
}

func TestReadRateLimitWaitsForReset(t *testing.T) {
	c, p := newFaultyPLC(t)
	reset := time.Now().Add(time.Second).Unix() + 1 // 1-2 s ahead
	p.queue("GET /log/audit", status(429, "Too Many Requests", "RateLimit-Reset", strconv.FormatInt(reset, 10)))
	start := time.Now()
	if _, err := c.AuditLog(context.Background(), p.fake.f.did); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("returned after %s, want about the reset", d)
	}
	ev := p.retries()
	if p.count("GET /log/audit") != 2 || len(ev) != 1 || !ev[0].RateLimited || ev[0].Wait < 900*time.Millisecond {
		t.Errorf("requests %d, events %+v", p.count("GET /log/audit"), ev)
	}
}

func TestReadRateLimitBeyondMaxWaitReturned(t *testing.T) {
	c, p := newFaultyPLC(t)
	reset := time.Now().Add(time.Hour)
	p.queue("GET /log/audit", status(429, "Too Many Requests", "RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10)))
	start := time.Now()
	_, err := c.AuditLog(context.Background(), p.fake.f.did)
	var de *DirectoryError
	if !errors.As(err, &de) || de.Status != 429 || de.RetryAfter < 59*time.Minute {
		t.Fatalf("got %v", err)
	}
	if p.count("GET /log/audit") != 1 || time.Since(start) > time.Second {
		t.Errorf("%d requests after %s; want 1, at once", p.count("GET /log/audit"), time.Since(start))
	}
	if want := reset.UTC().Format("15:04"); !strings.Contains(err.Error(), "resets in") || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say when the limit resets (%s)", err, want)
	}
}

func TestReadResetMidBodyRetried(t *testing.T) {
	c, p := newFaultyPLC(t)
	p.queue("GET /log/audit", cutMidBody)
	log, err := c.AuditLog(context.Background(), p.fake.f.did)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || p.count("GET /log/audit") != 2 || len(p.retries()) != 1 {
		t.Errorf("log %d entries, %d requests, events %+v", len(log), p.count("GET /log/audit"), p.retries())
	}
}

func TestReadClientErrorNotRetried(t *testing.T) {
	c, p := newFaultyPLC(t)
	p.queue("GET /log/audit", status(400, "Invalid DID"))
	_, err := c.AuditLog(context.Background(), p.fake.f.did)
	var de *DirectoryError
	if !errors.As(err, &de) || de.Status != 400 || !strings.Contains(err.Error(), "Invalid DID") {
		t.Fatalf("got %v", err)
	}
	if p.count("GET /log/audit") != 1 || len(p.retries()) != 0 {
		t.Errorf("%d requests, %d retries; want 1 and 0", p.count("GET /log/audit"), len(p.retries()))
	}
}

// The directory applied the op but the answer was lost: Submit learns it
// from the audit log and does not post again (a repeat would be refused).
func TestSubmitLostAnswerAppliedNotResent(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("POST", loseAnswer)
	if err := c.Submit(context.Background(), p.fake.f.did, op); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if n := p.count("POST"); n != 1 {
		t.Errorf("%d posts, want 1", n)
	}
	if p.count("GET /log/audit") != 1 || len(p.fake.f.log) != 3 || p.fake.f.log[2].CID != OpCID(op) {
		t.Errorf("%d log reads; log has %d entries", p.count("GET /log/audit"), len(p.fake.f.log))
	}
}

// A 5xx that was not applied: the log says so, and the op is sent again.
func TestSubmitServerErrorResentAfterLogCheck(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("POST", status(502, "Bad Gateway"))
	if err := c.Submit(context.Background(), p.fake.f.did, op); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if p.count("POST") != 2 || p.count("GET /log/audit") != 1 || len(p.fake.f.log) != 3 {
		t.Errorf("%d posts, %d log reads, %d entries", p.count("POST"), p.count("GET /log/audit"), len(p.fake.f.log))
	}
}

// Every attempt fails, the last one after the directory applied it: the
// log, read before giving up, says it went through.
func TestSubmitAppliedOnTheLastAttempt(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("POST", status(502, "Bad Gateway"), status(502, "Bad Gateway"), status(502, "Bad Gateway"), loseAnswer)
	if err := c.Submit(context.Background(), p.fake.f.did, op); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if p.count("POST") != fastRetry.MaxAttempts || p.count("GET /log/audit") != fastRetry.MaxAttempts || len(p.fake.f.log) != 3 {
		t.Errorf("%d posts, %d log reads, %d entries", p.count("POST"), p.count("GET /log/audit"), len(p.fake.f.log))
	}
}

// Every attempt fails unanswered and none was applied: the last error is
// returned, once the log has said so.
func TestSubmitGivesUp(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("POST", repeat(fastRetry.MaxAttempts, status(500, "Internal Server Error"))...)
	err := c.Submit(context.Background(), p.fake.f.did, op)
	var se *SubmitError
	if !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("got %v", err)
	}
	if p.count("POST") != fastRetry.MaxAttempts || len(p.fake.f.log) != 2 {
		t.Errorf("%d posts, %d entries", p.count("POST"), len(p.fake.f.log))
	}
}

func TestSubmitRefusedNotRetried(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("POST", status(400, "Invalid signature on op: {}"))
	err := c.Submit(context.Background(), p.fake.f.did, op)
	var se *SubmitError
	if !errors.As(err, &se) || se.Status != 400 || se.Message != "Invalid signature on op: {}" ||
		!strings.Contains(err.Error(), "Invalid signature on op") {
		t.Fatalf("got %v", err)
	}
	if p.count("POST") != 1 || p.count("GET /log/audit") != 0 || len(p.retries()) != 0 {
		t.Errorf("%d posts, %d log reads, %d retries; want 1, 0, 0", p.count("POST"), p.count("GET /log/audit"), len(p.retries()))
	}
}

// A lagging replica: the op is live in the audit log from its fourth read,
// in the document from its second.
func TestAwaitLaggingReplica(t *testing.T) {
	c, p, op, before := submitted(t)
	p.queue("GET /log/audit", repeat(3, staleLog(before))...)
	p.queue("GET /data", staleDoc(t, before))
	st, err := c.Await(context.Background(), p.fake.f.did, op)
	if err != nil {
		t.Fatal(err)
	}
	if st.Head.CID != OpCID(op) || st.Endpoint() != "https://new.example" {
		t.Errorf("state head %s endpoint %s", st.Head.CID, st.Endpoint())
	}
	if p.count("GET /log/audit") != 5 || p.count("GET /data") != 2 {
		t.Errorf("%d log reads, %d document reads; want 5 and 2", p.count("GET /log/audit"), p.count("GET /data"))
	}
}

func TestAwaitTimesOut(t *testing.T) {
	c, p, op, before := submitted(t)
	p.queue("GET /log/audit", repeat(1000, staleLog(before))...)
	c.LagWait = 100 * time.Millisecond
	start := time.Now()
	_, err := c.Await(context.Background(), p.fake.f.did, op)
	var le *LagError
	if !errors.As(err, &le) || le.OpCID != OpCID(op) || !strings.Contains(err.Error(), "accepted operation "+OpCID(op)) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > time.Second || p.count("GET /log/audit") < 2 {
		t.Errorf("gave up after %s and %d reads", d, p.count("GET /log/audit"))
	}
}

// A read that keeps failing ends the wait with its own error.
func TestAwaitReadErrorReturned(t *testing.T) {
	c, p := newFaultyPLC(t)
	op := signedUpdate(t, c, p)
	p.queue("GET /log/audit", status(400, "Invalid DID"))
	_, err := c.Await(context.Background(), p.fake.f.did, op)
	var de *DirectoryError
	if !errors.As(err, &de) || de.Status != 400 {
		t.Fatalf("got %v", err)
	}
}

// The answer is lost and the replica the log is read from lags: the op is
// posted again and refused as a repeat; Submit then waits for the replica
// and reports success, with the op in the log once.
func TestSubmitLostAnswerBehindLaggingReplica(t *testing.T) {
	c, p := newFaultyPLC(t)
	before := append([]didplc.LogEntry(nil), p.fake.f.log...)
	op := signedUpdate(t, c, p)
	p.queue("POST", loseAnswer)
	p.queue("GET /log/audit", repeat(2, staleLog(before))...)
	if err := c.Submit(context.Background(), p.fake.f.did, op); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if p.count("POST") != 2 || len(p.fake.f.log) != 3 {
		t.Errorf("%d posts, log has %d entries; want 2 and 3", p.count("POST"), len(p.fake.f.log))
	}
}

// An op the log holds under another head is not lag: no waiting.
func TestAwaitSuperseded(t *testing.T) {
	c, p, op, _ := submitted(t)
	p.fake.f.appendOp(func(op *didplc.RegularOp) { op.AlsoKnownAs[0] = "at://someone.else.test" }, p.fake.f.user, time.Now().Add(time.Second))
	c.LagWait = time.Minute
	start := time.Now()
	if _, err := c.Await(context.Background(), p.fake.f.did, op); !errors.Is(err, ErrSuperseded) || time.Since(start) > time.Second {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
}
