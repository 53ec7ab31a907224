package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Old spellings of renamed flags and environment variables are kept for
// one release so that scripts keep working. Each is a hidden flag of its
// own (urfave/cli lists a flag's aliases and env vars in --help, and an
// old spelling must not be offered there); before the command runs,
// applyRenames moves its value to the new name, so commands only ever
// read the new names.

// renamedFlag is a hidden flag that stands for the flag named to.
type renamedFlag interface {
	cli.Flag
	renamedTo() string
}

type oldStringFlag struct {
	cli.StringFlag
	to string
}

func (f *oldStringFlag) renamedTo() string { return f.to }

type oldIntFlag struct {
	cli.IntFlag
	to string
}

func (f *oldIntFlag) renamedTo() string { return f.to }

// oldString is the hidden old spelling of the string flag to, read also
// from the old env vars.
func oldString(old, to string, env ...string) cli.Flag {
	return &oldStringFlag{StringFlag: cli.StringFlag{Name: old, EnvVars: env, Hidden: true, Usage: "old spelling of --" + to}, to: to}
}

// oldInt is the hidden old spelling of the int flag to.
func oldInt(old, to string) cli.Flag {
	return &oldIntFlag{IntFlag: cli.IntFlag{Name: old, Hidden: true, Usage: "old spelling of --" + to}, to: to}
}

// applyRenames gives each new name the value of its old spelling when only
// the old one is set, with a warning that the old spelling goes away. The
// new name wins when both are set.
func applyRenames(c *cli.Context) error {
	for _, f := range c.Command.Flags {
		r, ok := f.(renamedFlag)
		if !ok || !c.IsSet(r.Names()[0]) {
			continue
		}
		msg := fmt.Sprintf("%s is the old spelling of %s: it works in this release only", flagWords(r), flagWords(findFlag(c.Command, r.renamedTo())))
		if c.IsSet(r.renamedTo()) {
			msg += fmt.Sprintf(", and --%s, set too, wins", r.renamedTo())
		}
		fmt.Fprintf(os.Stderr, "atmigrate: warning: %s\n", msg)
		if c.IsSet(r.renamedTo()) {
			continue
		}
		if err := c.Set(r.renamedTo(), fmt.Sprint(c.Value(r.Names()[0]))); err != nil {
			return usageError{fmt.Sprintf("--%s: %v", r.Names()[0], err), ""}
		}
	}
	return nil
}

func findFlag(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		if f.Names()[0] == name {
			return f
		}
	}
	return nil
}

// flagWords names a flag with its env vars: "--password (ATMIGRATE_PASSWORD)".
func flagWords(f cli.Flag) string {
	if f == nil {
		return "?"
	}
	s := "--" + f.Names()[0]
	if ev, ok := f.(interface{ GetEnvVars() []string }); ok && len(ev.GetEnvVars()) > 0 {
		s += " (" + strings.Join(ev.GetEnvVars(), ", ") + ")"
	}
	return s
}
