package batch

import (
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzParseAccounts: an accounts file of any content is parsed or refused
// with an error, never a panic. The seeds are the two formats, CSV and
// JSON Lines, and their common mistakes.
func FuzzParseAccounts(f *testing.F) {
	for _, s := range []string{
		"account,old_password\nalice.example.com,pw\n",
		"account,old_password,new_handle,plc_token\n\"bob\",env:PW,bob.new,\n",
		"{\"account\":\"alice.example.com\",\"old_password\":\"pw\"}\n{\"account\":\"did:plc:abc\"}\n",
		"# comment\n\naccount\n",
		"{\"account\":",
		"account,old_password\n\"unclosed,pw\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dir := t.TempDir()
		fuzzcheck.Alloc(t, len(s), func() {
			af, err := ParseAccounts(strings.NewReader(s), dir, func(string) string { return "" })
			if err == nil && af == nil {
				t.Fatal("no accounts and no error")
			}
		})
	})
}

// FuzzParseTokens: a tokens file of any content is parsed or refused.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{"account,token\nalice.example.com,ABCDE-12345\n", "alice,x\n", "", "a,b,c\n\"x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fuzzcheck.Alloc(t, len(s), func() { _, _ = ParseTokens(strings.NewReader(s)) })
	})
}
