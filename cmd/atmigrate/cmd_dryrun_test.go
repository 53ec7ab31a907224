package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/stage"
)

// Each verdict prints its own closing lines, with the choices the core
// names said as flags, and the effects in order.
func TestDryRunVerdictWords(t *testing.T) {
	cases := []struct {
		name string
		r    migrate.DryRunReport
		want []string
		not  []string
	}{
		{"should succeed", migrate.DryRunReport{Verdict: migrate.VerdictSucceed, Checked: true, Repo: repoOf("bafycommit"),
			Effects: []migrate.Effect{{Stage: stage.CreateAccount, What: "create the account"}}},
			[]string{"A real run should succeed.", "create-account  create the account", "What a real run would change"},
			[]string{"would stop", "cannot be told"}},
		{"would stop", migrate.DryRunReport{Verdict: migrate.VerdictStop, StopsAt: stage.Preflight, Checked: true,
			Blockers: []string{"the handle x is not allowed (pass {new-handle} with a handle under .test)"}},
			[]string{"A real run would stop at preflight:", "  - the handle x is not allowed (pass --new-handle with a handle under .test)",
				"repo          not checked: a real run stops before the export"},
			[]string{"should succeed", "{new-handle}"}},
		{"cannot tell", migrate.DryRunReport{Verdict: migrate.VerdictCannotTell, Checked: true, Repo: repoOf("bafycommit"),
			Unknown:    []string{"an upload limit", "the import (PDS_MAX_REPO_IMPORT_SIZE)"},
			CannotTell: []string{"the import (PDS_MAX_REPO_IMPORT_SIZE)"}},
			[]string{"Whether a real run succeeds cannot be told:", "  - the import (PDS_MAX_REPO_IMPORT_SIZE)", "not known: an upload limit"},
			[]string{"should succeed", "not known: the import"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			sayDryRun(&r)
			var b bytes.Buffer
			printDryRun(&b, &r)
			out := b.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.not {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// repoOf is a report's repo part for a repo that was checked.
func repoOf(commit string) (r struct {
	Bytes   int64  `json:"bytes"`
	Records int    `json:"records"`
	Rev     string `json:"rev,omitempty"`
	Commit  string `json:"commit,omitempty"`
}) {
	r.Commit = commit
	return r
}
