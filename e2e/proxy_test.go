package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// fault is what the proxy does to one request. The zero value passes it
// through untouched.
type fault struct {
	// status answers at once with this status and body, upstream untouched.
	status int
	body   string
	header map[string]string
	// cutResponseAfter forwards the request, then sends the response's
	// headers (with the real Content-Length) and only this many body bytes
	// before dropping the connection: a truncated body or a reset mid-body.
	cutResponseAfter int64
	// cutRequestAfter reads this many bytes of the request body, then drops
	// the connection without an answer: an upload reset mid-body.
	cutRequestAfter int64
	// rewrite forwards the request and replaces the response body with
	// what it returns (a PDS that lies).
	rewrite func(body []byte) []byte
	// stall is one of stallKinds: the server goes silent (see serveStall).
	stall string
}

func (f fault) zero() bool {
	return f.status == 0 && f.cutResponseAfter == 0 && f.cutRequestAfter == 0 && f.rewrite == nil && f.stall == ""
}

// faultProxy is a reverse proxy in front of a real server that injects
// faults chosen by its rules.
type faultProxy struct {
	*httptest.Server
	target *url.URL
	tr     *http.Transport

	mu       sync.Mutex
	rules    []func(*http.Request) fault
	injected map[string]int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: u, tr: &http.Transport{}, injected: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *faultProxy) rule(r func(*http.Request) fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

// counts returns how many faults of each kind were injected.
func (p *faultProxy) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

func (p *faultProxy) pick(r *http.Request) fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if f := rule(r); !f.zero() {
			kind := "cut-response"
			switch {
			case f.status != 0:
				kind = strconv.Itoa(f.status)
			case f.cutRequestAfter > 0:
				kind = "cut-request"
			case f.rewrite != nil:
				kind = "rewrite"
			case f.stall != "":
				kind = "stall-" + f.stall
			}
			p.injected[kind]++
			return f
		}
	}
	return fault{}
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.pick(r)
	if f.status != 0 {
		io.Copy(io.Discard, r.Body)
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
		return
	}
	if f.cutRequestAfter > 0 {
		io.CopyN(io.Discard, r.Body, f.cutRequestAfter)
		hijackClose(w)
		return
	}
	if f.stall == "nothing" {
		// The request never reaches the server.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.Host = p.target.Host
	if r.ContentLength == 0 {
		out.Body = nil
	}
	if f.rewrite != nil {
		// Rewrite the content, not its compressed form: the transport
		// asks for gzip itself and hands back the decoded body.
		out.Header.Del("Accept-Encoding")
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, fmt.Sprintf(`{"error":"BadGateway","message":%q}`, err.Error()), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.rewrite != nil {
		body, _ := io.ReadAll(resp.Body)
		body = f.rewrite(body)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	w.WriteHeader(resp.StatusCode)
	if f.stall != "" {
		serveStall(w, r, resp, f.stall)
		return
	}
	if f.cutResponseAfter > 0 {
		io.CopyN(w, resp.Body, f.cutResponseAfter)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		hijackClose(w)
		return
	}
	io.Copy(w, resp.Body)
}

// hijackClose drops the client's connection without finishing the answer.
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("proxy: cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}
