package e2e

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// TestTimeline runs `migrate --timeline` twice on a small account: the
// first run stops for the PLC token (exit 3) and still writes its picture;
// the second finishes. Each picture is valid XML with the lanes of the
// servers the run talked to and the stages it went through, and names no
// DID, handle, URL or secret.
func TestTimeline(t *testing.T) {
	net := sharedNet(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("tl"), Posts: 30, Blobs: 5, BlobMinBytes: 2_000, BlobMaxBytes: 8_000, Profile: true, Preferences: true})
	env := migrateEnv(net, acct)
	state, dir := t.TempDir(), t.TempDir()
	secrets := []string{acct.DID, acct.Handle, acct.Password, acct.Email, net.A.URL, net.B.URL, net.PLCURL, "did:plc:", "did:web:", "localhost", "127.0.0.1"}
	for _, u := range []string{net.A.URL, net.B.URL, net.PLCURL} {
		if p, err := url.Parse(u); err == nil {
			secrets = append(secrets, p.Host)
		}
	}

	paused := filepath.Join(dir, "paused.svg")
	r := atmigrate(t, env, "migrate", "--state-dir", state, "--yes", "--timeline", paused)
	if r.code != 3 {
		t.Fatalf("without a token: want exit 3\n%s", r)
	}
	mustContain(t, r, "timeline written to "+paused)
	texts := timelineTexts(t, paused, secrets)
	for _, want := range []string{"paused (exit 3)", "stages", "old PDS", "new PDS", "atmigrate CPU", "login", "export-repo", "import-repo", "blobs"} {
		if !texts[want] {
			t.Errorf("%s: no text %q", paused, want)
		}
	}

	token, err := net.A.PLCToken(acct.Email)
	if err != nil {
		t.Fatal(err)
	}
	env["ATMIGRATE_PLC_TOKEN"] = token
	secrets = append(secrets, token)
	done := filepath.Join(dir, "done.svg")
	r = atmigrate(t, env, "migrate", "--state-dir", state, "--yes", "--timeline", done)
	if r.code != 0 {
		t.Fatalf("with the token: want exit 0\n%s", r)
	}
	texts = timelineTexts(t, done, secrets)
	for _, want := range []string{": done (", "new PDS", "PLC directory", "identity", "activate"} {
		if !texts[want] {
			t.Errorf("%s: no text %q", done, want)
		}
	}
	if b, _ := os.ReadFile(done); strings.Contains(string(b), "unfinished") {
		t.Errorf("%s: a stage of a finished run is drawn unfinished", done)
	}
	if keep := os.Getenv("TIMELINE_KEEP"); keep != "" {
		for _, p := range []string{paused, done} {
			b, _ := os.ReadFile(p)
			_ = os.WriteFile(filepath.Join(keep, "e2e-"+filepath.Base(p)), b, 0o644)
		}
	}

	// A file that cannot be written is a warning, not a failed run.
	r = atmigrate(t, env, "migrate", "--state-dir", state, "--yes", "--timeline", filepath.Join(dir, "no", "such", "dir.svg"))
	if r.code != 0 {
		t.Fatalf("an unwritable --timeline failed the run\n%s", r)
	}
	mustContain(t, r, "warning: --timeline")
}

// timelineTexts parses the SVG at path (failing on malformed XML or on any
// of secrets in it) and returns its text elements, each also split at
// "·" and as its prefix up to a colon, for lookups.
func timelineTexts(t *testing.T, path string, secrets []string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no timeline: %v", err)
	}
	t.Logf("%s: %d bytes", filepath.Base(path), len(b))
	low := strings.ToLower(string(b))
	for _, s := range secrets {
		if s != "" && strings.Contains(low, strings.ToLower(s)) {
			t.Errorf("%s contains %q", path, s)
		}
	}
	if n := strings.Count(low, "http"); n != strings.Count(low, "http://www.w3.org/2000/svg") {
		t.Errorf("%s names a URL", path)
	}
	texts := map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			s := strings.TrimSpace(string(cd))
			texts[s] = true
			for _, f := range strings.Fields(s) {
				texts[f] = true
			}
			for _, want := range []string{"paused (exit 3)", ": done ("} {
				if strings.Contains(s, want) {
					texts[want] = true
				}
			}
		}
	}
	return texts
}
