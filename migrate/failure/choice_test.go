package failure

import "testing"

func TestWordsSaysEachChoice(t *testing.T) {
	how := func(c Choice) string { return "--" + string(c) }
	cases := map[string]string{
		"pass {old-password}":                 "pass --old-password",
		"{yes} or {state-dir}, then again":    "--yes or --state-dir, then again",
		`server said {"error":"x"} {nothing}`: `server said {"error":"x"} {nothing}`,
		"no braces":                           "no braces",
		"unclosed {old-password":              "unclosed {old-password",
		"{{old-pds}}":                         "{--old-pds}",
	}
	for in, want := range cases {
		if got := Words(in, how); got != want {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}
