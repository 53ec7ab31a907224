package pds

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// answerCalls are the client's calls whose 200 answer it decodes: the
// PDSes', the relay's and the AppView's. Each is made once per input.
var answerCalls = map[string]func(context.Context, *Client) error{
	"describeServer": func(ctx context.Context, c *Client) error { _, err := c.DescribeServer(ctx); return err },
	"createSession": func(ctx context.Context, c *Client) error {
		_, err := c.Login(ctx, "alice.test", testPassword, "")
		return err
	},
	"getSession": func(ctx context.Context, c *Client) error { _, err := c.GetSession(ctx); return err },
	"createAccount": func(ctx context.Context, c *Client) error {
		_, err := c.CreateAccount(ctx, CreateAccountInput{DID: "did:plc:test", Handle: "alice.test", Password: testPassword})
		return err
	},
	"getRepoStatus": func(ctx context.Context, c *Client) error { _, err := c.GetRepoStatus(ctx, "did:plc:test"); return err },
	"getLatestCommit": func(ctx context.Context, c *Client) error {
		_, _, err := c.GetLatestCommit(ctx, "did:plc:test")
		return err
	},
	"checkAccountStatus": func(ctx context.Context, c *Client) error { _, err := c.CheckAccountStatus(ctx); return err },
	"listBlobs": func(ctx context.Context, c *Client) error {
		_, _, err := c.ListBlobs(ctx, "did:plc:test", "", 1000)
		return err
	},
	"listMissingBlobs": func(ctx context.Context, c *Client) error { _, err := c.ListMissingBlobs(ctx); return err },
	"getServiceAuth": func(ctx context.Context, c *Client) error {
		_, err := c.GetServiceAuth(ctx, "did:web:pds.example", "", time.Minute)
		return err
	},
	"credentials": func(ctx context.Context, c *Client) error { _, err := c.GetRecommendedDidCredentials(ctx); return err },
	"signPlc": func(ctx context.Context, c *Client) error {
		_, err := c.SignPlcOperation(ctx, "TOKEN", &Credentials{})
		return err
	},
	"resolveHandle": func(ctx context.Context, c *Client) error { _, err := c.ResolveHandle(ctx, "alice.test"); return err },
	"preferences":   func(ctx context.Context, c *Client) error { _, err := c.GetPreferences(ctx); return err },
	"getRecord": func(ctx context.Context, c *Client) error {
		_, _, err := c.GetRecord(ctx, "did:plc:test", "app.bsky.actor.profile", "self")
		return err
	},
	"hostStatus": func(ctx context.Context, c *Client) error { _, err := c.GetHostStatus(ctx, "pds.example"); return err },
	"getProfile": func(ctx context.Context, c *Client) error { _, err := c.GetProfile(ctx, "did:plc:test"); return err },
	"getBlocks": func(ctx context.Context, c *Client) error {
		_, err := c.GetBlocks(ctx, "did:plc:test", "bafy")
		return err
	},
	"uploadBlob": func(ctx context.Context, c *Client) error {
		_, err := c.UploadBlob(ctx, bytes.NewReader([]byte("blob")), 4, "text/plain")
		return err
	},
}

// FuzzClientAnswers answers every call the client decodes with the same
// arbitrary 200 body: each call returns a value or an error, never
// panics, never leaks a credential in its error, and allocates within the
// budget (the limits keep an endless answer out of memory).
func FuzzClientAnswers(f *testing.F) {
	for name, body := range map[string]string{
		"describeServer": `{"did":"did:web:pds.example","availableUserDomains":[".pds.example"],"inviteCodeRequired":false}`,
		"session":        `{"accessJwt":"a.eyJzY29wZSI6ImNvbS5hdHByb3RvLmFwcFBhc3MifQ.c","refreshJwt":"r","did":"did:plc:test","handle":"alice.test","active":true}`,
		"repoStatus":     `{"did":"did:plc:test","active":false,"status":"deactivated","rev":"3kabc"}`,
		"accountStatus":  `{"activated":true,"validDid":true,"repoCommit":"bafyrei","repoRev":"3k","repoBlocks":12,"indexedRecords":3,"privateStateValues":0,"expectedBlobs":2,"importedBlobs":1}`,
		"listBlobs":      `{"cids":["bafkreia","bafkreib"],"cursor":"bafkreib"}`,
		"missingBlobs":   `{"blobs":[{"cid":"bafkreia","recordUri":"at://did:plc:test/app.bsky.feed.post/3k"}],"cursor":"x"}`,
		"credentials":    `{"rotationKeys":["did:key:zQ3sh"],"alsoKnownAs":["at://alice.test"],"verificationMethods":{"atproto":"did:key:zQ3sh"},"services":{"atproto_pds":{"type":"AtprotoPersonalDataServer","endpoint":"https://pds.example"}}}`,
		"preferences":    `{"preferences":[{"$type":"app.bsky.actor.defs#savedFeedsPrefV2","items":[]}]}`,
		"hostStatus":     `{"hostname":"pds.example","seq":42,"accountCount":3,"status":"active"}`,
		"truncated":      `{"cids":["bafkreia","baf`,
		"deep-nesting":   strings.Repeat(`{"a":`, 50000),
		"wrong-types":    `{"cids":{"a":1},"cursor":7,"did":[],"active":"yes","seq":1e999}`,
		"null":           `null`,
		"html":           `<html><body>502 Bad Gateway</body></html>`,
		"empty":          ``,
	} {
		fuzzcheck.Seed(f, name, []byte(body))
	}
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	// One transport for every input: a client's own would keep its idle
	// connections open, and a fuzzing worker runs a million inputs.
	hc := srv.Client()
	f.Fuzz(func(t *testing.T, data []byte) {
		body.Store(&data)
		c := New(srv.URL, Options{Retry: RetryPolicy{MaxAttempts: 1}, HTTPClient: hc})
		c.setTokens(access2, refresh2, "did:plc:test")
		fuzzcheck.Alloc(t, len(data), func() {
			for _, call := range answerCalls {
				assertNoSecrets(t, call(context.Background(), c))
			}
		})
	})
}

// FuzzErrorBody feeds an error answer's body, whatever it is, to the
// reading of XRPC errors: the message keeps no credential the client
// holds, and a body that is not JSON becomes a short single line.
func FuzzErrorBody(f *testing.F) {
	for name, body := range map[string]string{
		"xrpc":      `{"error":"InvalidRequest","message":"Input/handle must be a valid handle"}`,
		"expired":   `{"error":"ExpiredToken","message":"Token has expired"}`,
		"echo":      `{"error":"AuthFailed","message":"bad token ` + access1 + `"}`,
		"html":      "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n" + refresh1 + "</body></html>",
		"long-text": strings.Repeat("overloaded ", 1000),
		"empty":     ``,
	} {
		fuzzcheck.Seed(f, name, []byte(body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() {
			resp := &http.Response{StatusCode: 400, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(data))}
			e := newAPIError(resp, "com.atproto.server.getSession", "https://pds.example", allSecrets)
			assertNoSecrets(t, e)
			var asJSON struct{ Error, Message string }
			isExcerpt := json.Unmarshal(data, &asJSON) != nil
			if isExcerpt && (len(e.Message) > 203 || strings.ContainsAny(e.Message, "\n\r")) {
				t.Fatalf("excerpt of a non-JSON body is not one short line: %q", e.Message)
			}
		})
	})
}
