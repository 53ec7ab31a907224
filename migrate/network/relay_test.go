package network

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/internal/pds"
)

const (
	did     = "did:plc:abcdefghijklmnopqrstuvwx"
	host    = "pds.example.com"
	oldRev  = "3lbzaaaaaaa22"
	newRev  = "3lbzbbbbbbb22"
	handle  = "alice.example.com"
	tooLong = 5 * time.Second
)

var expect = Expect{DID: did, Host: host, Rev: newRev, Handle: handle}

// fast is one attempt per call, so that tests of answers do not wait on
// backoff.
var fast = Options{Client: pds.Options{Retry: pds.RetryPolicy{MaxAttempts: 1}}, CallTimeout: 2 * time.Second}

func relayOpts() RelayOptions { return RelayOptions{Options: fast} }

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s %q does not contain %q", what, s, sub)
		}
	}
}

func TestRelayStates(t *testing.T) {
	cases := []struct {
		name   string
		repo   *fakenet.RelayRepo
		host   *fakenet.RelayHost
		state  RelayState
		repair bool
		line   []string
		warn   []string
	}{
		{"in sync", &fakenet.RelayRepo{Active: true, Rev: newRev}, &fakenet.RelayHost{Status: "active", AccountCount: 12},
			RelayInSync, false, []string{"in sync, active at rev " + newRev, "host pds.example.com active with 12 accounts"}, nil},
		{"later rev", &fakenet.RelayRepo{Active: true, Rev: "3lbzccccccc22"}, &fakenet.RelayHost{Status: "active", AccountCount: 1},
			RelayInSync, false, []string{"in sync"}, nil},
		{"behind", &fakenet.RelayRepo{Active: true, Rev: oldRev}, &fakenet.RelayHost{Status: "active", AccountCount: 1},
			RelayBehind, true, []string{"behind", "at rev " + oldRev, newRev}, []string{"Run the same atmigrate command again later to nudge it"}},
		{"no rev", &fakenet.RelayRepo{Active: true}, &fakenet.RelayHost{Status: "active", AccountCount: 1},
			RelayBehind, true, []string{"with no rev"}, []string{"older than"}},
		{"inactive", &fakenet.RelayRepo{Active: false, Status: "deactivated", Rev: oldRev}, &fakenet.RelayHost{Status: "active", AccountCount: 1},
			RelayInactive, true, []string{"inactive (deactivated)"}, []string{"hide the account", "Run the same atmigrate command again"}},
		{"throttled account", &fakenet.RelayRepo{Active: false, Status: "throttled"}, &fakenet.RelayHost{Status: "active", AccountCount: 100},
			RelayThrottled, false, []string{"throttled", "with 100 accounts"}, []string{"Ask the relay's operator to raise the host's account limit"}},
		{"throttled host, behind", &fakenet.RelayRepo{Active: true, Rev: oldRev}, &fakenet.RelayHost{Status: "throttled", AccountCount: 3},
			RelayThrottled, false, []string{"throttled, active at rev " + oldRev, "host pds.example.com throttled"}, []string{"operator"}},
		{"throttled host, in sync", &fakenet.RelayRepo{Active: true, Rev: newRev}, &fakenet.RelayHost{Status: "throttled", AccountCount: 3},
			RelayInSync, false, []string{"in sync", "throttled"}, nil},
		{"banned host", &fakenet.RelayRepo{Active: false, Status: "deactivated"}, &fakenet.RelayHost{Status: "banned"},
			RelayHostBanned, false, []string{"banned"}, []string{"has banned host pds.example.com"}},
		{"takendown", &fakenet.RelayRepo{Active: false, Status: "takendown"}, &fakenet.RelayHost{Status: "active"},
			RelayTakendown, false, []string{"taken down (takendown)"}, []string{"relay's operator"}},
		{"repo not found", nil, &fakenet.RelayHost{Status: "active", AccountCount: 4},
			RelayNotFollowing, true, []string{"does not know the account"}, []string{"no event for it from pds.example.com", "PDS_CRAWLERS"}},
		{"host not found, active from the old host", &fakenet.RelayRepo{Active: true, Rev: newRev}, nil,
			RelayNotFollowing, true, []string{"not following the new host", "host pds.example.com unknown to the relay"}, []string{"does not follow the new PDS pds.example.com"}},
		{"host not found, deactivated", &fakenet.RelayRepo{Active: false, Status: "deactivated", Rev: oldRev}, nil,
			RelayNotFollowing, true, []string{"not following the new host, the account is deactivated"}, []string{"does not follow the new PDS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakenet.NewRelay(t)
			if tc.repo != nil {
				r.SetRepo(did, *tc.repo)
			}
			if tc.host != nil {
				r.SetHost(host, *tc.host)
			}
			v := CheckRelay(context.Background(), r.URL, expect, relayOpts())
			if v.State != tc.state {
				t.Fatalf("state = %s, want %s (view %+v)", v.State, tc.state, v)
			}
			if v.OK() != (tc.state == RelayInSync) {
				t.Errorf("OK() = %v for %s", v.OK(), v.State)
			}
			if v.NeedsRepair() != tc.repair {
				t.Errorf("NeedsRepair() = %v, want %v", v.NeedsRepair(), tc.repair)
			}
			mustContain(t, "line", v.Line(), append([]string{"relay " + r.URL + ": "}, tc.line...)...)
			if w := v.Warning(); tc.warn == nil {
				if w != "" {
					t.Errorf("warning %q for %s", w, v.State)
				}
			} else {
				mustContain(t, "warning", w, tc.warn...)
			}
			if v.Summary() == "" || strings.Contains(v.Line(), "\n") {
				t.Errorf("summary %q, line %q", v.Summary(), v.Line())
			}
			if r.Calls("com.atproto.sync.requestCrawl") != 0 {
				t.Error("crawl requested without Crawl")
			}
		})
	}
}

func TestRelayBrokenIsUnknownAfterFewAttempts(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
	r.SetHost(host, fakenet.RelayHost{Status: "active"})
	r.SetBroken(true)
	o := RelayOptions{Options: Options{CallTimeout: 10 * time.Second}} // the default retry, capped
	start := time.Now()
	v := CheckRelay(context.Background(), r.URL, expect, o)
	if v.State != RelayUnknown || v.OK() || v.NeedsRepair() {
		t.Fatalf("state %s OK %v repair %v, want unknown", v.State, v.OK(), v.NeedsRepair())
	}
	if n := r.Calls("com.atproto.sync.getRepoStatus"); n != pds.NetworkRetry.MaxAttempts {
		t.Errorf("getRepoStatus sent %d times, want %d (NetworkRetry)", n, pds.NetworkRetry.MaxAttempts)
	}
	if d := time.Since(start); d > tooLong {
		t.Errorf("took %s", d)
	}
	mustContain(t, "line", v.Line(), "not known", "502")
	mustContain(t, "warning", v.Warning(), "could not be read", "says nothing about the account")
}

func TestRelayClosedPortIsUnknownQuickly(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	start := time.Now()
	vs := CheckRelays(context.Background(), []string{url}, expect, RelayOptions{Options: Options{CallTimeout: 3 * time.Second}, Crawl: true})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a closed port took %s", d)
	}
	if len(vs) != 1 || vs[0].State != RelayUnknown {
		t.Fatalf("views %+v, want one unknown", vs)
	}
	if vs[0].Crawl == "" || vs[0].Crawl == CrawlOK || !vs[0].CrawlRefused() {
		t.Errorf("crawl answer %q, want the connection error", vs[0].Crawl)
	}
}

func TestRelayThatNeverAnswersIsBoundedByCallTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	start := time.Now()
	v := CheckRelay(context.Background(), srv.URL, expect, RelayOptions{Options: Options{CallTimeout: 150 * time.Millisecond}})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s for two calls of 150ms", d)
	}
	if v.State != RelayUnknown {
		t.Fatalf("state %s", v.State)
	}
	mustContain(t, "error", v.Error, "no answer within 150ms")
}

func TestRelayCrawlAcceptedAndRefused(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
	o := relayOpts()
	o.Crawl = true
	v := CheckRelay(context.Background(), r.URL, expect, o)
	if got := r.Crawled(); len(got) != 1 || got[0] != host {
		t.Fatalf("crawled %v, want [%s]", got, host)
	}
	// The fake relay follows a crawled host, so the host is known now.
	if v.Crawl != CrawlOK || v.State != RelayInSync || v.HostStatus != "active" {
		t.Fatalf("view %+v, want crawl ok and in sync", v)
	}
	mustContain(t, "line", v.Line(), "; crawl requested")

	r2 := fakenet.NewRelay(t)
	r2.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: oldRev})
	r2.RefuseCrawl(&fakenet.XRPCError{Status: 400, Name: "BadRequest", Message: "can not configure localhost via public endpoint"})
	v = CheckRelay(context.Background(), r2.URL, expect, o)
	if !v.CrawlRefused() || v.CrawlError != "BadRequest" {
		t.Fatalf("crawl %q (%s), want refused BadRequest", v.Crawl, v.CrawlError)
	}
	if v.State != RelayNotFollowing {
		t.Fatalf("state %s, want not-following (host unknown)", v.State)
	}
	mustContain(t, "line", v.Line(), "crawl request refused: BadRequest: can not configure localhost via public endpoint")
	mustContain(t, "warning", v.Warning(), "refused the request to crawl pds.example.com", "can not configure localhost")

	r3 := fakenet.NewRelay(t)
	r3.RefuseCrawl(&fakenet.XRPCError{Status: 400, Name: "HostNotFound", Message: "host server unreachable: dial tcp: i/o timeout"})
	v = CheckRelay(context.Background(), r3.URL, expect, o)
	mustContain(t, "warning", v.Warning(), "could not reach pds.example.com", "https://pds.example.com")
}

func TestRelayCrawlRefusedAsBanned(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: oldRev})
	r.RefuseCrawl(&fakenet.XRPCError{Status: 401, Name: "DomainBan", Message: "host domain is banned"})
	o := relayOpts()
	o.Crawl, o.Wait, o.Poll = true, 2*time.Second, 10*time.Millisecond
	start := time.Now()
	v := CheckRelay(context.Background(), r.URL, expect, o)
	if v.State != RelayHostBanned || v.NeedsRepair() {
		t.Fatalf("state %s repair %v, want host-banned", v.State, v.NeedsRepair())
	}
	if v.Polls != 0 || time.Since(start) > time.Second {
		t.Errorf("waited on a ban: %d polls in %s", v.Polls, time.Since(start))
	}
	mustContain(t, "line", v.Line(), "banned", "crawl request refused: DomainBan: host domain is banned")
}

func TestRelayWaitSucceedsAfterPolls(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: oldRev})
	r.SetHost(host, fakenet.RelayHost{Status: "active", AccountCount: 2})
	go func() {
		for r.Calls("com.atproto.sync.getRepoStatus") < 3 {
			time.Sleep(2 * time.Millisecond)
		}
		r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
	}()
	o := relayOpts()
	o.Wait, o.Poll = 5*time.Second, 20*time.Millisecond
	v := CheckRelay(context.Background(), r.URL, expect, o)
	if v.State != RelayInSync || v.Rev != newRev {
		t.Fatalf("view %+v, want in sync at %s", v, newRev)
	}
	if v.Polls < 2 {
		t.Errorf("in sync after %d polls, want at least 2", v.Polls)
	}
}

func TestRelayWaitForCrawlThatMakesTheRepoAppear(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.OnCrawl(func(h string) {
		go func() {
			time.Sleep(50 * time.Millisecond)
			r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
		}()
	})
	o := relayOpts()
	o.Crawl, o.Wait, o.Poll = true, 5*time.Second, 10*time.Millisecond
	v := CheckRelay(context.Background(), r.URL, expect, o)
	if v.State != RelayInSync || v.Polls == 0 {
		t.Fatalf("view %+v, want in sync after polling", v)
	}
}

func TestRelayWaitTimesOutBehind(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: oldRev})
	r.SetHost(host, fakenet.RelayHost{Status: "active"})
	o := relayOpts()
	o.Wait, o.Poll = 200*time.Millisecond, 30*time.Millisecond
	start := time.Now()
	v := CheckRelay(context.Background(), r.URL, expect, o)
	d := time.Since(start)
	if v.State != RelayBehind {
		t.Fatalf("state %s, want behind", v.State)
	}
	if d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %s for a 200ms wait", d)
	}
	if v.Polls < 3 || r.Calls("com.atproto.sync.getRepoStatus") != v.Polls+1 {
		t.Errorf("%d polls, %d reads", v.Polls, r.Calls("com.atproto.sync.getRepoStatus"))
	}
}

func TestRelayWaitHonoursCancellation(t *testing.T) {
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: oldRev})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	o := relayOpts()
	o.Wait, o.Poll = time.Minute, 10*time.Millisecond
	start := time.Now()
	v := CheckRelay(ctx, r.URL, expect, o)
	if time.Since(start) > 2*time.Second {
		t.Fatalf("a cancelled wait took %s", time.Since(start))
	}
	if v.State == RelayInSync {
		t.Fatalf("state %s", v.State)
	}
}

func TestRelayMalformedBodiesAreUnknown(t *testing.T) {
	bodies := []string{`{"did": 12`, `not json`, `[]`, `{"did":"` + did + `","active":"yes"}`, `{"did":"did:plc:someoneelse","active":true,"rev":"` + newRev + `"}`}
	for _, body := range bodies {
		r := fakenet.NewRelay(t)
		r.SetHost(host, fakenet.RelayHost{Status: "active"})
		r.SetRawAnswer("com.atproto.sync.getRepoStatus", 200, body)
		v := CheckRelay(context.Background(), r.URL, expect, relayOpts())
		if v.State != RelayUnknown || v.Error == "" {
			t.Errorf("body %q: state %s error %q, want unknown with an error", body, v.State, v.Error)
		}
	}
	r := fakenet.NewRelay(t)
	r.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
	r.SetRawAnswer("com.atproto.sync.getHostStatus", 200, `{"hostname":`)
	v := CheckRelay(context.Background(), r.URL, expect, relayOpts())
	if v.HostError == "" || v.HostStatus != "" {
		t.Errorf("malformed host status gave %+v", v)
	}
	mustContain(t, "line", v.Line(), "host pds.example.com not read")
}

func TestCheckRelaysKeepsOrderAndJSON(t *testing.T) {
	a, b := fakenet.NewRelay(t), fakenet.NewRelay(t)
	a.SetRepo(did, fakenet.RelayRepo{Active: true, Rev: newRev})
	a.SetHost(host, fakenet.RelayHost{Status: "active", AccountCount: 7})
	b.SetRepo(did, fakenet.RelayRepo{Active: false, Status: "deactivated", Rev: oldRev})
	b.SetHost(host, fakenet.RelayHost{Status: "active"})
	vs := CheckRelays(context.Background(), []string{b.URL, a.URL}, expect, relayOpts())
	if len(vs) != 2 || vs[0].Relay != b.URL || vs[0].State != RelayInactive || vs[1].Relay != a.URL || vs[1].State != RelayInSync {
		t.Fatalf("views %+v", vs)
	}
	raw, err := json.Marshal(vs[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"relay": a.URL, "state": "in-sync", "rev": newRev, "host": host, "hostStatus": "active", "accountCount": 7.0} {
		if m[k] != want {
			t.Errorf("json %s = %v, want %v (%s)", k, m[k], want, raw)
		}
	}
	var back RelayView
	if err := json.Unmarshal(raw, &back); err != nil || back.Line() != vs[1].Line() {
		t.Errorf("round trip: %v, line %q vs %q", err, back.Line(), vs[1].Line())
	}
}
