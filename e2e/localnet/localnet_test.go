package localnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
)

// startNet starts a network for one test and stops it when the test ends.
func startNet(t *testing.T, opts Options) *Network {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Node servers; skipped in -short mode")
	}
	if err := EnsureInstalled(); err != nil {
		t.Fatal(err)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("network up in %s: plc %s, A %s, B %s", time.Since(start).Round(time.Millisecond), n.PLCURL, n.A.URL, n.B.URL)
	t.Cleanup(n.Close)
	return n
}

func TestNetwork(t *testing.T) {
	n := startNet(t, Options{})
	ctx := context.Background()

	start := time.Now()
	acct, err := n.A.CreateAccount(ctx, SeedSpec{
		Handle: "alice", Posts: 30, Blobs: 3, Profile: true, Preferences: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %s (%s) in %s", acct.Handle, acct.DID, time.Since(start).Round(time.Millisecond))
	if acct.Handle != "alice.test" || acct.Email != "alice@example.com" {
		t.Errorf("handle %q email %q, want alice.test alice@example.com", acct.Handle, acct.Email)
	}
	if want := 30 + 3 + 1; acct.Records != want {
		t.Errorf("Records = %d, want %d", acct.Records, want)
	}
	if len(acct.Blobs) != 4 {
		t.Errorf("len(Blobs) = %d, want 4 (3 + avatar)", len(acct.Blobs))
	}

	c, err := acct.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Records", func(t *testing.T) {
		if got := countRecords(ctx, t, c, acct.DID, "app.bsky.feed.post"); got != 33 {
			t.Errorf("listRecords posts = %d, want 33", got)
		}
		if got := countRecords(ctx, t, c, acct.DID, "app.bsky.actor.profile"); got != 1 {
			t.Errorf("listRecords profile = %d, want 1", got)
		}
	})

	t.Run("Blobs", func(t *testing.T) {
		out, err := comatproto.SyncListBlobs(ctx, c, "", acct.DID, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		got, want := slices.Sorted(slices.Values(out.Cids)), slices.Sorted(slices.Values(acct.Blobs))
		if !slices.Equal(got, want) {
			t.Errorf("listBlobs = %v, want %v", got, want)
		}
		// The bytes behind the first CID start with the JPEG header.
		req := atclient.NewAPIRequest(atclient.MethodQuery, "com.atproto.sync.getBlob", nil)
		req.QueryParams.Set("did", acct.DID)
		req.QueryParams.Set("cid", acct.Blobs[0])
		resp, err := c.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("getBlob: status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if n, _ := strconv.Atoi(resp.Header.Get("Content-Length")); n < 50_000 || n > 200_000 {
			t.Errorf("getBlob: size %d outside the default 50,000..200,000", n)
		}
	})

	t.Run("Preferences", func(t *testing.T) {
		out, err := agnostic.ActorGetPreferences(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Preferences) != len(SeededPreferences()) {
			t.Errorf("got %d preferences, want %d", len(out.Preferences), len(SeededPreferences()))
		}
		found := false
		for _, p := range out.Preferences {
			if p["$type"] == UnknownPreferenceType && p["note"] == "kept verbatim" {
				found = true
			}
		}
		if !found {
			t.Errorf("unknown preference %s not stored verbatim: %v", UnknownPreferenceType, out.Preferences)
		}
	})

	t.Run("PLCToken", func(t *testing.T) {
		if _, err := n.A.PLCToken(acct.Email); !errors.Is(err, ErrNoMail) {
			t.Errorf("PLCToken before any request: err = %v, want ErrNoMail", err)
		}
		if err := comatproto.IdentityRequestPlcOperationSignature(ctx, c); err != nil {
			t.Fatal(err)
		}
		tok, err := n.A.PLCToken(acct.Email)
		if err != nil {
			t.Fatal(err)
		}
		if tok == "" {
			t.Fatal("empty PLC token")
		}
		// A second request sends a new token; the newest one wins.
		if err := comatproto.IdentityRequestPlcOperationSignature(ctx, c); err != nil {
			t.Fatal(err)
		}
		mails, err := n.A.Mail()
		if err != nil {
			t.Fatal(err)
		}
		if len(mails) != 2 || mails[1].To != acct.Email || mails[1].Template != MailTemplatePLCOperation {
			t.Fatalf("mails = %+v, want two plcOperation mails to %s", mails, acct.Email)
		}
		if tok2, err := n.A.PLCToken(acct.Email); err != nil || tok2 != mails[1].Token {
			t.Errorf("PLCToken = %q, %v; want newest %q", tok2, err, mails[1].Token)
		}
	})

	t.Run("RotationKey", func(t *testing.T) {
		var data struct {
			RotationKeys []string `json:"rotationKeys"`
			Services     map[string]struct {
				Endpoint string `json:"endpoint"`
			} `json:"services"`
		}
		getJSON(t, n.PLCURL+"/"+acct.DID+"/data", &data)
		if !slices.Contains(data.RotationKeys, n.A.RotationKeyDID) {
			t.Errorf("rotationKeys %v lack PDS A's %s", data.RotationKeys, n.A.RotationKeyDID)
		}
		if got := data.Services["atproto_pds"].Endpoint; got != n.A.URL {
			t.Errorf("atproto_pds endpoint %q, want %q", got, n.A.URL)
		}
	})

	t.Run("Post", func(t *testing.T) {
		uri, cid, err := acct.Post(ctx, "one more")
		if err != nil || uri == "" || cid == "" {
			t.Fatalf("Post = %q, %q, %v", uri, cid, err)
		}
		blob, err := acct.PostWithImage(ctx, 10_000)
		if err != nil || blob == "" {
			t.Fatalf("PostWithImage = %q, %v", blob, err)
		}
		if got := countRecords(ctx, t, c, acct.DID, "app.bsky.feed.post"); got != 35 {
			t.Errorf("posts after Post and PostWithImage = %d, want 35", got)
		}
	})

	// Last: take A away; B must still answer.
	t.Run("StopA", func(t *testing.T) {
		if err := n.A.Stop(); err != nil {
			t.Fatal(err)
		}
		if n.A.Running() {
			t.Error("A still running after Stop")
		}
		if _, err := comatproto.ServerDescribeServer(ctx, n.A.NewClient()); err == nil {
			t.Error("A still answers after Stop")
		}
		out, err := comatproto.ServerDescribeServer(ctx, n.B.NewClient())
		if err != nil {
			t.Fatal(err)
		}
		if out.Did != n.B.DID {
			t.Errorf("B describeServer did %q, want %q", out.Did, n.B.DID)
		}
	})
}

// TestInvitesAndRateLimits checks B's options: invites required, rate limits
// on with a working bypass key.
func TestInvitesAndRateLimits(t *testing.T) {
	n := startNet(t, Options{InviteRequiredB: true, RateLimitsB: true})
	ctx := context.Background()

	desc, err := comatproto.ServerDescribeServer(ctx, n.B.NewClient())
	if err != nil {
		t.Fatal(err)
	}
	if desc.InviteCodeRequired == nil || !*desc.InviteCodeRequired {
		t.Error("B does not require invites")
	}
	if _, err := n.B.CreateAccount(ctx, SeedSpec{Handle: "noinvite"}); err == nil {
		t.Error("createAccount without invite succeeded on B")
	}
	code, err := n.B.CreateInviteCode(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := n.B.CreateAccount(ctx, SeedSpec{Handle: "bob", InviteCode: code, Posts: 5})
	if err != nil {
		t.Fatal(err)
	}

	// Rate limits: B sends RateLimit headers without the bypass key, and
	// none with it.
	hasLimitHeader := func(bypass bool) bool {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.B.URL+"/xrpc/com.atproto.repo.describeRepo?repo="+acct.DID, nil)
		if bypass {
			req.Header.Set("x-ratelimit-bypass", n.B.RateLimitBypassKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("RateLimit-Limit") != ""
	}
	if n.B.RateLimitBypassKey == "" {
		t.Fatal("no bypass key with rate limits on")
	}
	if !hasLimitHeader(false) {
		t.Error("B sent no RateLimit-Limit header with rate limits on")
	}
	if hasLimitHeader(true) {
		t.Error("B rate-limited a request with the bypass key")
	}

	// A keeps the defaults.
	if n.A.InviteRequired || n.A.RateLimited || n.A.RateLimitBypassKey != "" {
		t.Errorf("A has options set: %+v", n.A)
	}
	if _, err := n.A.CreateAccount(ctx, SeedSpec{Handle: "carol"}); err != nil {
		t.Errorf("A refused an account without invite: %v", err)
	}
}

// TestSeedTiming seeds a medium account (5,000 posts, 300 blobs of about
// 100 KB) and reports the time; run by hand with LOCALNET_TIMING=1.
func TestSeedTiming(t *testing.T) {
	if os.Getenv("LOCALNET_TIMING") == "" {
		t.Skip("set LOCALNET_TIMING=1 to measure start-up and seeding")
	}
	n := startNet(t, Options{})
	ctx := context.Background()
	posts, blobs := envInt("LOCALNET_POSTS", 5000), envInt("LOCALNET_BLOBS", 300)
	start := time.Now()
	acct, err := n.A.CreateAccount(ctx, SeedSpec{
		Handle: "medium", Posts: posts, Blobs: blobs,
		BlobMinBytes: 90_000, BlobMaxBytes: 110_000, Profile: true, Preferences: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d records and %d blobs in %s", acct.Records, len(acct.Blobs), time.Since(start).Round(time.Millisecond))
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func countRecords(ctx context.Context, t *testing.T, c *atclient.APIClient, did, collection string) int {
	t.Helper()
	total, cursor := 0, ""
	for {
		out, err := agnostic.RepoListRecords(ctx, c, collection, cursor, 100, did, false)
		if err != nil {
			t.Fatalf("listRecords %s: %v", collection, err)
		}
		total += len(out.Records)
		if out.Cursor == nil || *out.Cursor == "" || len(out.Records) == 0 {
			return total
		}
		cursor = *out.Cursor
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
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(fmt.Errorf("decode %s: %w", url, err))
	}
}
