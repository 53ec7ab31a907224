package main

import (
	"testing"

	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/urfave/cli/v2"
)

// Every choice the core can name is said as a flag, and that flag exists.
func TestEveryChoiceHasWords(t *testing.T) {
	flags := map[string]bool{}
	for _, c := range newApp().Commands {
		collectFlags(c, flags)
	}
	for _, c := range failure.Choices {
		w, ok := choiceWords[c]
		if !ok {
			t.Errorf("no words for the choice %q", c)
			continue
		}
		if !flags[string(c)] {
			t.Errorf("the choice %q is said as %q, but no command has a flag --%s", c, w, c)
		}
	}
	if got := say("pass {old-password}; {not-a-choice}"); got != "pass ATMIGRATE_OLD_PASSWORD (or --old-password); {not-a-choice}" {
		t.Errorf("say: %q", got)
	}
}

// collectFlags adds the names of c's flags, and its subcommands', to flags.
func collectFlags(c *cli.Command, flags map[string]bool) {
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			flags[n] = true
		}
	}
	for _, sub := range c.Subcommands {
		collectFlags(sub, flags)
	}
}
