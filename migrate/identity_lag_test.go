package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/stage"
	"github.com/atmigrate/atmigrate/migrate/ui"
	"github.com/atmigrate/atmigrate/repo/repotest"
	"github.com/did-method-plc/go-didplc/didplc"
)

// laggingPLC is a read replica in front of the fake directory: once the
// DID's log has grown past what it held at the start, it keeps serving that
// older audit log and document for `stale` more reads of each.
type laggingPLC struct {
	*httptest.Server
	f *fakeMove

	mu        sync.Mutex
	before    []didplc.LogEntry
	data      *didplc.RegularOp
	stale     map[string]int // route suffix → stale reads left
	staleSent int
}

func newLaggingPLC(t *testing.T, f *fakeMove, stale int) *laggingPLC {
	t.Helper()
	data, err := f.plc.Data(f.did)
	if err != nil {
		t.Fatal(err)
	}
	l := &laggingPLC{f: f, before: f.plc.Log(f.did), data: data, stale: map[string]int{"/log/audit": stale, "/data": stale}}
	target, _ := url.Parse(f.plc.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body := l.staleBody(r); body != nil {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *laggingPLC) staleBody(r *http.Request) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	suffix := strings.TrimPrefix(r.URL.Path, "/"+l.f.did)
	if r.Method != http.MethodGet || l.stale[suffix] == 0 || len(l.f.plc.Log(l.f.did)) == len(l.before) {
		return nil
	}
	l.stale[suffix]--
	l.staleSent++
	var v any = l.before
	if suffix == "/data" {
		v = map[string]any{"did": l.f.did, "rotationKeys": l.data.RotationKeys, "verificationMethods": l.data.VerificationMethods,
			"alsoKnownAs": l.data.AlsoKnownAs, "services": l.data.Services}
	}
	b, _ := json.Marshal(v)
	return b
}

func (l *laggingPLC) catchUp() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.stale)
}

// retries records the Retry reports.
type retries struct {
	ui.NopProgress
	mu    sync.Mutex
	hosts []string
}

func (r *retries) Retry(host, method string, _ int, _ time.Duration, _ error, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts = append(r.hosts, host+" "+method)
}

// withRepo gives the account on A a real signed repo, so that a whole
// migration can run against the fakes.
func withRepo(t *testing.T, f *fakeMove) *fakeMove {
	t.Helper()
	car, r, err := repotest.BuildCAR(5, 0, f.a.SigningKeyFor(f.did), f.did)
	if err != nil {
		t.Fatal(err)
	}
	f.a.Modify(f.did, func(a *fakenet.Account) { a.RepoCAR, a.CommitCID, a.Rev = car, r.CommitCID.String(), r.Rev })
	return f
}

// The directory fails reads with 500s and, after the switch, answers from a
// replica that lags: the run retries, reports the retries, waits for the
// operation, and submits exactly one.
func TestIdentityRetriesAndWaitsForTheDirectory(t *testing.T) {
	f := withRepo(t, newFakeMove(t))
	lag := newLaggingPLC(t, f, 3)
	o := f.opts(t)
	o.PLCURL, o.RotationKey = lag.URL, f.userKey
	o.Retry.MaxAttempts = 4
	prog := &retries{}
	o.Progress = prog
	f.plc.Fail("GET /{did}/log/audit", 2, http.StatusInternalServerError, "Internal Server Error")
	before := len(f.plc.Log(f.did))
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := len(f.plc.Log(f.did)) - before; n != 1 {
		t.Errorf("%d new operations, want 1", n)
	}
	if lag.staleSent < 3 {
		t.Errorf("%d stale answers served; the wait did not meet the lag", lag.staleSent)
	}
	if endpointNow(t, f) != f.b.PublicURL() || !active(t, f.b, f.did) || active(t, f.a, f.did) {
		t.Errorf("not moved: endpoint %s", endpointNow(t, f))
	}
	if len(prog.hosts) < 2 || !strings.HasPrefix(prog.hosts[0], lag.URL+" GET /"+f.did+"/log/audit") {
		t.Errorf("retries reported: %q", prog.hosts)
	}
}

// A directory that does not show the operation within the wait stops the
// run resumably; the same command, once the directory caught up, finishes
// without a second operation.
func TestIdentityLagTimeoutIsResumable(t *testing.T) {
	f := withRepo(t, newFakeMove(t))
	lag := newLaggingPLC(t, f, 1_000_000)
	o := f.opts(t)
	o.PLCURL, o.RotationKey = lag.URL, f.userKey
	servers.PLCLagWait = 100 * time.Millisecond
	t.Cleanup(func() { servers.PLCLagWait = 0 })
	before := len(f.plc.Log(f.did))
	_, err := Run(context.Background(), o)
	var se *failure.StageError
	if !errors.As(err, &se) || se.Stage != stage.Identity || !strings.Contains(err.Error(), "accepted operation") ||
		!strings.Contains(failure.Hint(err), "run the same command again") {
		t.Fatalf("want a resumable identity error saying the directory lags, got %v (hint %q)", err, failure.Hint(err))
	}
	var ie *failure.InputError
	if errors.As(err, &ie) {
		t.Fatalf("a lagging directory is not bad input: %v", err)
	}
	// Again while it still lags: it waits again, it does not sign again.
	if _, err := Run(context.Background(), o); !errors.As(err, &se) || se.Stage != stage.Identity {
		t.Fatalf("second run while lagging: %v", err)
	}
	lag.catchUp()
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("run after the directory caught up: %v", err)
	}
	if n := len(f.plc.Log(f.did)) - before; n != 1 || f.b.Calls("com.atproto.identity.submitPlcOperation") != 1 {
		t.Errorf("%d new operations, %d submissions; want 1 and 1", n, f.b.Calls("com.atproto.identity.submitPlcOperation"))
	}
}
