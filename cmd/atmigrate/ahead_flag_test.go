package main

import (
	"strings"
	"testing"
)

func TestDownloadAheadProblem(t *testing.T) {
	for _, ok := range []string{"", "import", "uploads"} {
		if p := downloadAheadProblem(ok); p != "" {
			t.Errorf("%q refused: %s", ok, p)
		}
	}
	for _, bad := range []string{"auto", "Import", "later"} {
		p := downloadAheadProblem(bad)
		if !strings.Contains(p, bad) || !strings.Contains(p, "import, uploads") {
			t.Errorf("%q: %q, want it named with the values allowed", bad, p)
		}
	}
}
