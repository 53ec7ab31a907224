package fakenet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// RelayRepo is what a fake relay answers for one DID in
// com.atproto.sync.getRepoStatus. Status is empty when Active (the
// reference relay omits it then); Rev empty is left out too (a relay that
// knows the account but no commit of it).
type RelayRepo struct {
	Active bool
	Status string
	Rev    string
}

// RelayHost is what a fake relay answers for one PDS host in
// com.atproto.sync.getHostStatus. Status is "active", "idle", "offline",
// "throttled" or "banned" on the reference relay.
type RelayHost struct {
	Status       string
	AccountCount int64
	Seq          int64
}

// Relay is a fake relay (indigo's cmd/relay as far as its XRPC reads go):
// requestCrawl, getRepoStatus and getHostStatus answered from state that
// tests set. An unknown DID is 404 RepoNotFound and an unknown host 404
// HostNotFound, as the reference relay answers. An accepted requestCrawl
// records the hostname, adds the host (active, no accounts) when unknown
// or sets an idle or offline one active again, then runs the OnCrawl hook.
// Every method is safe for concurrent use. It is closed when the test
// ends.
type Relay struct {
	// URL is the relay's base URL (http://127.0.0.1:<port>).
	URL string

	sw *switchboard

	mu      sync.Mutex
	repos   map[string]RelayRepo
	hosts   map[string]RelayHost
	crawl   *XRPCError
	onCrawl func(hostname string)
	crawled []string
	broken  bool
	raw     map[string]rawAnswer
}

// rawAnswer is a canned response, sent byte for byte.
type rawAnswer struct {
	status int
	body   string
}

// NewRelay starts a relay that knows no account and no host and accepts
// every requestCrawl.
func NewRelay(t testing.TB) *Relay {
	t.Helper()
	r := &Relay{
		sw:    newSwitchboard(),
		repos: map[string]RelayRepo{},
		hosts: map[string]RelayHost{},
		raw:   map[string]rawAnswer{},
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// SetRepo sets what getRepoStatus answers for did.
func (r *Relay) SetRepo(did string, s RelayRepo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.repos[did] = s
}

// RemoveRepo makes did unknown again (404 RepoNotFound).
func (r *Relay) RemoveRepo(did string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.repos, did)
}

// Repo returns what getRepoStatus would answer for did.
func (r *Relay) Repo(did string) (RelayRepo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.repos[did]
	return s, ok
}

// SetHost sets what getHostStatus answers for hostname.
func (r *Relay) SetHost(hostname string, h RelayHost) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[hostname] = h
}

// RemoveHost makes hostname unknown again (404 HostNotFound).
func (r *Relay) RemoveHost(hostname string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hosts, hostname)
}

// Host returns what getHostStatus would answer for hostname.
func (r *Relay) Host(hostname string) (RelayHost, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hosts[hostname]
	return h, ok
}

// RefuseCrawl makes every requestCrawl answer e (for example DomainBan,
// 401, "host domain is banned"); nil accepts them again.
func (r *Relay) RefuseCrawl(e *XRPCError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.crawl = e
}

// OnCrawl sets a hook run after each accepted requestCrawl, without the
// relay's lock, so it may call SetRepo (a crawl that makes the account
// appear) or SetHost.
func (r *Relay) OnCrawl(fn func(hostname string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onCrawl = fn
}

// Crawled returns the hostnames of the requestCrawl calls received, in
// order, refused ones included.
func (r *Relay) Crawled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.crawled...)
}

// SetBroken makes every call answer 502 with a proxy's HTML page (a relay
// behind a load balancer whose backend is down) while on.
func (r *Relay) SetBroken(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broken = on
}

// SetRawAnswer makes every call to nsid answer status with body, byte for
// byte (a malformed body, say); status 0 removes it.
func (r *Relay) SetRawAnswer(nsid string, status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if status == 0 {
		delete(r.raw, nsid)
		return
	}
	r.raw[nsid] = rawAnswer{status, body}
}

// Down closes the connection of every request until Up: clients see a
// network error.
func (r *Relay) Down() { r.sw.setDown(true) }

// Up ends Down.
func (r *Relay) Up() { r.sw.setDown(false) }

// Calls returns how many requests came for nsid.
func (r *Relay) Calls(nsid string) int { return r.sw.count(nsid) }

// FailWith makes the next n calls to nsid answer e.
func (r *Relay) FailWith(nsid string, n int, e *XRPCError) { r.sw.fail(nsid, n, e) }

func (r *Relay) serve(w http.ResponseWriter, req *http.Request) {
	nsid := strings.TrimPrefix(req.URL.Path, "/xrpc/")
	dropped, failure, lose := r.sw.intercept(w, nsid)
	if dropped {
		return
	}
	if failure != nil {
		writeXRPCError(w, failure)
		return
	}
	r.mu.Lock()
	broken := r.broken
	raw, hasRaw := r.raw[nsid]
	r.mu.Unlock()
	if broken {
		writeBadGateway(w)
		return
	}
	if hasRaw {
		raw.write(w)
		return
	}
	h := r.handler(nsid)
	if lose {
		serveThenDrop(w, req, h)
		return
	}
	h(w, req)
}

func (r *Relay) handler(nsid string) http.HandlerFunc {
	switch nsid {
	case "com.atproto.sync.requestCrawl":
		return r.requestCrawl
	case "com.atproto.sync.getRepoStatus":
		return r.getRepoStatus
	case "com.atproto.sync.getHostStatus":
		return r.getHostStatus
	case "_health":
		return func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		writeXRPCError(w, &XRPCError{Status: http.StatusNotImplemented, Name: "MethodNotImplemented", Message: "Method Not Implemented"})
	}
}

func (r *Relay) requestCrawl(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		writeXRPCError(w, invalidRequest("requestCrawl is a procedure"))
		return
	}
	var in struct {
		Hostname string `json:"hostname"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil || in.Hostname == "" {
		writeXRPCError(w, &XRPCError{Status: http.StatusBadRequest, Name: "BadRequest", Message: "hostname field empty or invalid: " + in.Hostname})
		return
	}
	r.mu.Lock()
	r.crawled = append(r.crawled, in.Hostname)
	refuse := r.crawl
	if refuse == nil {
		h, ok := r.hosts[in.Hostname]
		switch {
		case !ok:
			r.hosts[in.Hostname] = RelayHost{Status: "active", Seq: -1}
		case h.Status == "idle" || h.Status == "offline":
			h.Status = "active"
			r.hosts[in.Hostname] = h
		}
	}
	hook := r.onCrawl
	r.mu.Unlock()
	if refuse != nil {
		writeXRPCError(w, refuse)
		return
	}
	if hook != nil {
		hook(in.Hostname)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (r *Relay) getRepoStatus(w http.ResponseWriter, req *http.Request) {
	did := req.URL.Query().Get("did")
	if did == "" {
		writeXRPCError(w, invalidRequest("Error: Params must have the property \"did\""))
		return
	}
	s, ok := r.Repo(did)
	if !ok {
		writeXRPCError(w, &XRPCError{Status: http.StatusNotFound, Name: "RepoNotFound", Message: "account not found"})
		return
	}
	out := map[string]any{"did": did, "active": s.Active}
	if s.Status != "" && !s.Active {
		out["status"] = s.Status
	}
	if s.Rev != "" {
		out["rev"] = s.Rev
	}
	writeJSON(w, http.StatusOK, out)
}

func (r *Relay) getHostStatus(w http.ResponseWriter, req *http.Request) {
	hostname := req.URL.Query().Get("hostname")
	if hostname == "" {
		writeXRPCError(w, invalidRequest("Error: Params must have the property \"hostname\""))
		return
	}
	h, ok := r.Host(hostname)
	if !ok {
		writeXRPCError(w, &XRPCError{Status: http.StatusNotFound, Name: "HostNotFound", Message: "host not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"hostname": hostname, "seq": h.Seq, "accountCount": h.AccountCount, "status": h.Status})
}

func (a rawAnswer) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

// writeBadGateway answers like a reverse proxy whose backend is down.
func writeBadGateway(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
}
