package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
)

// accountDID turns --account, a handle or a DID, into the DID. A handle is
// resolved through each PDS of via in turn (the first that knows it
// answers), or through DNS/HTTPS and --plc-url when via names none.
func accountDID(c *cli.Context, via ...string) (string, error) {
	acct := strings.TrimSpace(c.String("account"))
	var pdses []string
	for _, u := range via {
		if u != "" {
			pdses = append(pdses, u)
		}
	}
	if len(pdses) == 0 {
		pdses = []string{""}
	}
	var first error
	for _, u := range pdses {
		did, err := migrate.ResolveAccount(c.Context, acct, u, c.String("plc-url"))
		if err == nil {
			return did, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", first
}

// stateDirOf is --state-dir, or the default state dir of --account's DID.
func stateDirOf(c *cli.Context) (string, error) {
	if dir := c.String("state-dir"); dir != "" {
		return dir, nil
	}
	if c.String("account") == "" {
		return "", usageError{"pass --state-dir, or --account with the handle or DID", "the default state dir is named after the DID"}
	}
	did, err := accountDID(c)
	if isInput(err) {
		// The resolver's hint names flags of the commands that talk to a
		// PDS; this one reads local state only.
		return "", usageError{err.Error(), "pass --account with the DID, or --state-dir"}
	}
	if err != nil {
		return "", err
	}
	return migrate.DefaultStateDir(did)
}
