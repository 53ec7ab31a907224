package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// A password or key given as a flag shows in the process list. Every such
// flag has an environment variable, and its help says to prefer it, so
// that neither `--help` nor a hint (choiceWords) leads there.
func TestEverySecretFlagPrefersItsEnvVar(t *testing.T) {
	secret := func(name string) bool {
		return strings.Contains(name, "password") || name == "ratelimit-bypass-key"
	}
	seen := 0
	eachCommand(func(name string, cmd *cli.Command) {
		for _, f := range cmd.Flags {
			sf, ok := f.(*cli.StringFlag)
			if !ok || !secret(sf.Name) {
				continue
			}
			seen++
			if len(sf.EnvVars) == 0 {
				t.Errorf("%s --%s has no environment variable", name, sf.Name)
			}
			if !strings.Contains(sf.Usage, "prefer the env var") {
				t.Errorf("%s --%s: its help %q does not say to prefer the env var", name, sf.Name, sf.Usage)
			}
		}
	})
	if seen == 0 {
		t.Fatal("no secret flags found: the walk is broken")
	}
}
