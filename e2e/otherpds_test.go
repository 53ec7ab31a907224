package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	indigorepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/internal/pds"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// PDSes that are not the reference one. otherPDS is a proxy in front of the
// reference PDS B that makes it answer the way other implementations do
// (cocoon, measured; see the README's Servers section), one quirk each:
//
//   - unknownRepo500: getRepoStatus for a DID it does not host answers 500,
//     not 400 RepoNotFound;
//   - zeroBlobCounts: checkAccountStatus reports importedBlobs 0 whatever
//     is there;
//   - createdActive: a migrated account reads as active from its creation
//     (getRepoStatus and checkAccountStatus);
//   - slowResolveHandle: resolveHandle takes a while, then fails;
//   - resign: the imported repo is re-signed with the new PDS's key for the
//     account, so the latest commit has another CID and rev over the same
//     data (commit.data). The proxy builds that commit itself: it reads B's
//     commit, gives it a new rev, signs it with the account's signing key
//     from B's data directory (or, with wrongKey, a stranger's key), and
//     serves it from getLatestCommit, checkAccountStatus and getBlocks.
type otherPDS struct {
	*httptest.Server
	b      *localnet.PDS
	proxy  *httputil.ReverseProxy
	target *url.URL

	unknownRepo500, zeroBlobCounts, createdActive, resign, wrongKey bool
	slowResolveHandle                                               time.Duration

	mu      sync.Mutex
	calls   map[string]int
	applied map[string]int // quirk -> times it changed an answer
	fakes   map[string]fakeCommit
	blocks  map[string][]byte // fake commit CID -> block
}

type fakeCommit struct{ cid, rev string }

func newOtherPDS(t *testing.T, b *localnet.PDS) *otherPDS {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	o := &otherPDS{b: b, target: u, calls: map[string]int{}, applied: map[string]int{}, fakes: map[string]fakeCommit{}, blocks: map[string][]byte{}}
	o.proxy = httputil.NewSingleHostReverseProxy(u)
	o.proxy.ModifyResponse = o.modify
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *otherPDS) count(m map[string]int, k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m[k]++
}

func (o *otherPDS) n(m map[string]int, k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return m[k]
}

func (o *otherPDS) serve(w http.ResponseWriter, r *http.Request) {
	nsid := nsidOf(r)
	o.count(o.calls, nsid)
	switch {
	case nsid == "com.atproto.identity.resolveHandle" && o.slowResolveHandle > 0:
		o.count(o.applied, "slowResolveHandle")
		time.Sleep(o.slowResolveHandle)
		writeXRPCError(w, http.StatusInternalServerError, "InternalServerError", "handle resolution timed out")
		return
	case nsid == "com.atproto.sync.getBlocks":
		o.mu.Lock()
		block, ok := o.blocks[r.URL.Query().Get("cids")]
		o.mu.Unlock()
		if ok {
			var buf bytes.Buffer
			c, _ := cid.Decode(r.URL.Query().Get("cids"))
			if err := repotest.WriteCAR(&buf, c, []repotest.Block{{CID: c, Data: block}}); err != nil {
				writeXRPCError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/vnd.ipld.car")
			w.Write(buf.Bytes())
			return
		}
	}
	// Answers are rewritten as JSON: ask B for them unencoded.
	r.Header.Del("Accept-Encoding")
	o.proxy.ServeHTTP(w, r)
}

func writeXRPCError(w http.ResponseWriter, status int, name, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": name, "message": msg})
}

// modify rewrites B's answers into the other implementation's.
func (o *otherPDS) modify(resp *http.Response) error {
	nsid := nsidOf(resp.Request)
	switch nsid {
	case "com.atproto.sync.getRepoStatus", "com.atproto.server.checkAccountStatus", "com.atproto.sync.getLatestCommit":
	default:
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	status := resp.StatusCode
	switch {
	case nsid == "com.atproto.sync.getRepoStatus" && status == http.StatusBadRequest && v["error"] == "RepoNotFound" && o.unknownRepo500:
		o.count(o.applied, "unknownRepo500")
		status, v = http.StatusInternalServerError, map[string]any{"error": "InternalServerError", "message": "record not found"}
	case nsid == "com.atproto.sync.getRepoStatus" && status == http.StatusOK && o.createdActive:
		if v["active"] != true {
			o.count(o.applied, "createdActive")
		}
		v["active"] = true
		delete(v, "status")
	case nsid == "com.atproto.server.checkAccountStatus" && status == http.StatusOK:
		if o.zeroBlobCounts {
			o.count(o.applied, "zeroBlobCounts")
			v["importedBlobs"] = 0
		}
		if o.createdActive {
			v["activated"] = true
		}
		if o.resign {
			if c, _ := v["repoCommit"].(string); c != "" {
				if f, ok := o.fake(resp.Request, c); ok {
					v["repoCommit"] = f.cid
				}
			}
		}
	case nsid == "com.atproto.sync.getLatestCommit" && status == http.StatusOK && o.resign:
		if c, _ := v["cid"].(string); c != "" {
			if f, ok := o.fake(resp.Request, c); ok {
				o.count(o.applied, "resign")
				v["cid"], v["rev"] = f.cid, f.rev
			}
		}
	}
	out, _ := json.Marshal(v)
	resp.StatusCode = status
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	return nil
}

// fake returns the re-signed twin of B's commit real, making it on first
// use: B's commit with a new rev, signed by the account's key on B (the
// key getRecommendedDidCredentials names), or by a stranger's with
// wrongKey. Until the account exists on B there is nothing to sign with.
func (o *otherPDS) fake(req *http.Request, real string) (fakeCommit, bool) {
	o.mu.Lock()
	f, ok := o.fakes[real]
	o.mu.Unlock()
	if ok {
		return f, true
	}
	did := req.URL.Query().Get("did")
	if did == "" {
		did = jwtSubject(req.Header.Get("Authorization"))
	}
	key, err := o.accountKey(did)
	if err != nil {
		return fakeCommit{}, false
	}
	// B's own commit block, read with the caller's credentials.
	q := url.Values{"did": {did}, "cids": {real}}
	greq, _ := http.NewRequestWithContext(req.Context(), http.MethodGet, o.b.URL+"/xrpc/com.atproto.sync.getBlocks?"+q.Encode(), nil)
	greq.Header.Set("Authorization", req.Header.Get("Authorization"))
	resp, err := http.DefaultClient.Do(greq)
	if err != nil {
		return fakeCommit{}, false
	}
	car, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fakeCommit{}, false
	}
	orig, err := repo.CommitFromCAR(req.Context(), car, real)
	if err != nil {
		return fakeCommit{}, false
	}
	data, err := cid.Decode(orig.Data)
	if err != nil {
		return fakeCommit{}, false
	}
	c := indigorepo.Commit{DID: orig.DID, Version: indigorepo.ATPROTO_REPO_VERSION, Data: data, Rev: syntax.NewTIDNow(0).String()}
	if err := c.Sign(key); err != nil {
		return fakeCommit{}, false
	}
	var buf bytes.Buffer
	if err := c.MarshalCBOR(&buf); err != nil {
		return fakeCommit{}, false
	}
	fc, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum(buf.Bytes())
	if err != nil {
		return fakeCommit{}, false
	}
	f = fakeCommit{cid: fc.String(), rev: c.Rev}
	o.mu.Lock()
	o.fakes[real] = f
	o.blocks[f.cid] = buf.Bytes()
	o.mu.Unlock()
	return f, true
}

// accountKey is did's repo signing key on B, as B keeps it: 32 raw bytes
// in actors/<first two hex digits of sha256(did)>/<did>/key.
func (o *otherPDS) accountKey(did string) (atcrypto.PrivateKey, error) {
	if o.wrongKey {
		return atcrypto.GeneratePrivateKeyK256()
	}
	sum := sha256.Sum256([]byte(did))
	raw, err := os.ReadFile(filepath.Join(o.b.DataDir, "actors", hex.EncodeToString(sum[:])[:2], did, "key"))
	if err != nil {
		return nil, err
	}
	return atcrypto.ParsePrivateBytesK256(raw)
}

// jwtSubject reads the sub claim of a bearer token, unverified.
func jwtSubject(auth string) string {
	parts := strings.Split(strings.TrimPrefix(auth, "Bearer "), ".")
	if len(parts) != 3 {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil || json.Unmarshal(b, &claims) != nil {
		return ""
	}
	return claims.Sub
}

// TestOtherPDSQuirks moves an account from the reference PDS to one that
// answers like another implementation, every quirk at once, by the email
// token flow (a first run that pauses, a second that finishes, a third
// after success). Each rule of deciding from protocol facts is asserted
// on its own:
//   - the existence probe's 500 means "unknown": the run goes on, and
//     createAccount settles it;
//   - the re-signed import counts as done (same data, signed by the new
//     PDS's key): verify-new passes and the second run does not import
//     again;
//   - zero blob counts are shown, not trusted;
//   - activateAccount is called although the account reads as active;
//   - the slow, failing resolveHandle is asked at most twice a run;
//   - the dry run says what it could not learn.
func TestOtherPDSQuirks(t *testing.T) {
	net := sharedNet(t)
	other := newOtherPDS(t, net.B)
	other.unknownRepo500, other.zeroBlobCounts, other.createdActive, other.resign = true, true, true, true
	other.slowResolveHandle = 2 * time.Second
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("other"), Posts: 60, Blobs: 6, BlobMinBytes: 2000, BlobMaxBytes: 8000, Preferences: true})
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = other.URL
	state := t.TempDir()
	args := []string{"migrate", "--yes", "--state-dir", state}

	dry := atmigrate(t, env, append(args, "--dry-run")...)
	if dry.code != 0 {
		t.Fatalf("dry run: want exit 0, got\n%s", dry)
	}
	mustContain(t, dry, "not known: whether "+other.URL+" already hosts the account", "500", "not known: whether the handle")

	resolves := other.n(other.calls, "com.atproto.identity.resolveHandle")
	first := atmigrate(t, env, args...)
	if first.code != 3 {
		t.Fatalf("first run: want exit 3 (paused for the token), got\n%s", first)
	}
	if n := other.n(other.calls, "com.atproto.identity.resolveHandle") - resolves; n > 2 {
		t.Errorf("resolveHandle asked %d times in one run; it is advisory: at most twice", n)
	}
	mustContain(t, first, "did not say whether it hosts the account", "the new PDS made it active at once", "re-signed by the new PDS", "the new PDS counts")
	if n := other.n(other.calls, "com.atproto.repo.importRepo"); n != 1 {
		t.Errorf("first run imported %d times, want 1", n)
	}

	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	second := atmigrate(t, withEnv(env, "ATMIGRATE_PLC_TOKEN", token), args...)
	if second.code != 0 {
		t.Fatalf("second run: want exit 0, got\n%s", second)
	}
	mustContain(t, second, "the new PDS already holds the exported repo", "re-signed by the new PDS", "it already was; activated again")
	if n := other.n(other.calls, "com.atproto.repo.importRepo"); n != 1 {
		t.Errorf("imported %d times over two runs, want 1: the re-signed import was not recognised", n)
	}
	if n := other.n(other.calls, "com.atproto.server.activateAccount"); n < 1 {
		t.Errorf("activateAccount never called: an account created active is never announced")
	}
	// B itself, not the proxy: the account must really be active.
	if !rcActive(t, net.B.URL, acct.DID) {
		t.Fatalf("the account on B is not active")
	}

	third := atmigrate(t, env, args...)
	if third.code != 0 {
		t.Fatalf("a run after success: want exit 0, got\n%s", third)
	}
	for _, q := range []string{"unknownRepo500", "zeroBlobCounts", "createdActive", "resign", "slowResolveHandle"} {
		if other.n(other.applied, q) == 0 {
			t.Errorf("the %s quirk never changed an answer: the test proves nothing about it", q)
		}
	}
	report(t, fmt.Sprintf("other-PDS test: 5 quirks (unknown repo 500, zero blob counts, created active, slow failing resolveHandle, re-signed import) applied %v times; migrated with 1 import and %d activateAccount call(s)",
		other.applied, other.n(other.calls, "com.atproto.server.activateAccount")))
}

// TestOtherPDSWrongSignature: a commit over the exported data that is not
// signed by the new PDS's key for the account is not taken as the import:
// the run stops before the switch and says why.
func TestOtherPDSWrongSignature(t *testing.T) {
	net := sharedNet(t)
	other := newOtherPDS(t, net.B)
	other.resign, other.wrongKey = true, true
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("badsig"), Posts: 20, RecoveryKey: userDK})
	env := migrateEnv(net, acct)
	env["ATMIGRATE_NEW_PDS"] = other.URL
	r := atmigrate(t, env, "migrate", "--yes", "--state-dir", t.TempDir(), "--rotation-key", keyPath)
	if r.code != 1 {
		t.Fatalf("want exit 1, got\n%s", r)
	}
	mustContain(t, r, "is not signed by the key it holds for the account", "ask its admin")
	if got := rcEndpoint(t, net, acct.DID); got != net.A.URL {
		t.Fatalf("the DID moved to %s although the new PDS's repo is not proven", got)
	}
	if _, err := pds.New(net.A.URL, pds.Options{}).GetRepoStatus(ctxT(t), acct.DID); err != nil {
		t.Fatal(err)
	}
}
