package fakenet

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// AppViewProfile is what a fake AppView shows of one account in
// app.bsky.actor.getProfile. Handle "handle.invalid" is how an AppView
// shows an account whose handle it could not verify.
type AppViewProfile struct {
	Handle      string
	DisplayName string
}

// AccountDeactivated is the bsky AppView's getProfile answer for a
// deactivated account.
func AccountDeactivated() *XRPCError {
	return namedInvalid("AccountDeactivated", "Account is deactivated")
}

// AccountTakedown is the bsky AppView's getProfile answer for a
// taken-down account.
func AccountTakedown() *XRPCError {
	return namedInvalid("AccountTakedown", "Account has been suspended")
}

// AppView is a fake AppView answering app.bsky.actor.getProfile by DID
// from state that tests set: a profile, or an error (AccountDeactivated,
// AccountTakedown, anything). An unknown DID is 400 InvalidRequest
// "Profile not found", as the bsky AppView answers. Every method is safe
// for concurrent use. It is closed when the test ends.
type AppView struct {
	// URL is the AppView's base URL (http://127.0.0.1:<port>).
	URL string

	sw *switchboard

	mu       sync.Mutex
	profiles map[string]AppViewProfile
	errs     map[string]*XRPCError
	broken   bool
	raw      *rawAnswer
}

// NewAppView starts an AppView that knows no account.
func NewAppView(t testing.TB) *AppView {
	t.Helper()
	a := &AppView{sw: newSwitchboard(), profiles: map[string]AppViewProfile{}, errs: map[string]*XRPCError{}}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// SetProfile makes getProfile for did answer p (and clears any error set
// for it).
func (a *AppView) SetProfile(did string, p AppViewProfile) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.profiles[did] = p
	delete(a.errs, did)
}

// SetError makes getProfile for did answer e until SetProfile or Remove.
func (a *AppView) SetError(did string, e *XRPCError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs[did] = e
}

// Remove makes did unknown again ("Profile not found").
func (a *AppView) Remove(did string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.profiles, did)
	delete(a.errs, did)
}

// SetBroken makes every call answer 502 with a proxy's HTML page while on.
func (a *AppView) SetBroken(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.broken = on
}

// SetRawAnswer makes every getProfile answer status with body, byte for
// byte; status 0 removes it.
func (a *AppView) SetRawAnswer(status int, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.raw = nil
	if status != 0 {
		a.raw = &rawAnswer{status, body}
	}
}

// Down closes the connection of every request until Up.
func (a *AppView) Down() { a.sw.setDown(true) }

// Up ends Down.
func (a *AppView) Up() { a.sw.setDown(false) }

// Calls returns how many requests came for nsid.
func (a *AppView) Calls(nsid string) int { return a.sw.count(nsid) }

func (a *AppView) serve(w http.ResponseWriter, req *http.Request) {
	nsid := strings.TrimPrefix(req.URL.Path, "/xrpc/")
	dropped, failure, lose := a.sw.intercept(w, nsid)
	if dropped {
		return
	}
	if failure != nil {
		writeXRPCError(w, failure)
		return
	}
	a.mu.Lock()
	broken, raw := a.broken, a.raw
	a.mu.Unlock()
	switch {
	case broken:
		writeBadGateway(w)
		return
	case raw != nil:
		raw.write(w)
		return
	}
	h := a.getProfile
	if nsid != "app.bsky.actor.getProfile" {
		h = func(w http.ResponseWriter, _ *http.Request) {
			writeXRPCError(w, &XRPCError{Status: http.StatusNotImplemented, Name: "MethodNotImplemented", Message: "Method Not Implemented"})
		}
	}
	if lose {
		serveThenDrop(w, req, h)
		return
	}
	h(w, req)
}

func (a *AppView) getProfile(w http.ResponseWriter, req *http.Request) {
	actor := req.URL.Query().Get("actor")
	if actor == "" {
		writeXRPCError(w, invalidRequest("Error: Params must have the property \"actor\""))
		return
	}
	a.mu.Lock()
	p, ok := a.profiles[actor]
	e := a.errs[actor]
	a.mu.Unlock()
	switch {
	case e != nil:
		writeXRPCError(w, e)
	case !ok:
		writeXRPCError(w, invalidRequest("Profile not found"))
	default:
		out := map[string]any{"did": actor, "handle": p.Handle}
		if p.DisplayName != "" {
			out["displayName"] = p.DisplayName
		}
		writeJSON(w, http.StatusOK, out)
	}
}
