package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzCanonicalJSON feeds the preferences a PDS answers, whatever they
// are, to the canonical form the verify report compares: it is stable (a
// canonical form is its own canonical form), so the same preferences in
// another key order never count as a difference.
func FuzzCanonicalJSON(f *testing.F) {
	for name, s := range map[string]string{
		"prefs":        `[{"$type":"app.bsky.actor.defs#savedFeedsPrefV2","items":[{"type":"timeline","value":"following","pinned":true,"id":"3k"}]},{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`,
		"big-number":   `[{"n":12345678901234567890123,"f":1e308}]`,
		"escapes":      `["\u003c\u0000\ud800","\xff"]`,
		"deep-nesting": strings.Repeat("[", 50000),
		"not-json":     `<html>`,
		"empty":        ``,
	} {
		fuzzcheck.Seed(f, name, []byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() {
			once := canonicalJSON(json.RawMessage(data))
			if !json.Valid(data) {
				return
			}
			if twice := canonicalJSON(once); !bytes.Equal(once, twice) {
				t.Fatalf("canonical form is not stable:\n%s\n%s", once, twice)
			}
		})
	})
}
