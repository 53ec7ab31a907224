package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// setupCommands gives every command, however deep, the same handling of
// bad usage, so that none can forget it: an unknown flag or a stray
// argument is a usage error (exit 2, with a hint naming the command's
// --help), an unknown subcommand too, and old flag spellings are applied
// before the command runs.
func setupCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		c.Before = beforeCommand
		if hasSubcommands(c) && c.Action == nil {
			c.Action = groupAction(cli.ShowSubcommandHelp)
		}
		setupCommands(c.Subcommands)
	}
}

// beforeCommand runs after the flags are parsed, before the action.
func beforeCommand(c *cli.Context) error {
	// A command with subcommands sees the subcommand's name as its
	// argument here; its own action (or the subcommand) judges it.
	if !hasSubcommands(c.Command) && c.Args().Present() && c.Command.Command(c.Args().First()) == nil { // "help" passes
		return usageError{"unexpected argument " + quote(c.Args().First()), "every value goes with a flag: see `" + commandPath(c) + " --help`"}
	}
	if err := checkStallTimeout(c); err != nil {
		return err
	}
	return applyRenames(c)
}

// groupAction is the action of a command that only holds subcommands (and
// of the app): help without arguments, a usage error for an unknown
// subcommand, instead of urfave/cli's "No help topic" and exit 3.
func groupAction(help func(*cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			name := strings.TrimPrefix(commandPath(c)+" "+c.Args().First(), "atmigrate ")
			return usageError{"unknown command " + quote(name), "see `" + commandPath(c) + " --help` for the commands"}
		}
		return help(c)
	}
}

// hasSubcommands: urfave/cli adds a "help" subcommand to every command.
func hasSubcommands(c *cli.Command) bool {
	for _, s := range c.Subcommands {
		if s.Name != "help" {
			return true
		}
	}
	return false
}

// commandPath is the command as typed, from the program name down:
// "atmigrate batch status".
func commandPath(c *cli.Context) string {
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" {
			names = append([]string{x.Command.Name}, names...)
		}
	}
	if len(names) == 0 || names[0] != "atmigrate" {
		names = append([]string{"atmigrate"}, names...)
	}
	return strings.Join(names, " ")
}

func quote(s string) string { return "'" + s + "'" }
