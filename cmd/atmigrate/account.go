package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
)

// accountDID turns --account, a handle or a DID, into the DID exactly as
// a migration does: a handle through oldPDS when given (DNS/HTTPS and
// --plc-url otherwise), then through newPDS, whose answer counts only when
// the DID document claims the handle.
func accountDID(c *cli.Context, oldPDS, newPDS string) (string, error) {
	return migrate.ResolveDID(c.Context, migrate.Options{Account: strings.TrimSpace(c.String("account")),
		OldPDS: oldPDS, NewPDS: newPDS, PLCURL: c.String("plc-url"), HTTPClient: runClient(c)})
}

// stateDirOf is --state-dir, or the default state dir of --account's DID.
func stateDirOf(c *cli.Context) (string, error) {
	if dir := c.String("state-dir"); dir != "" {
		return dir, nil
	}
	if c.String("account") == "" {
		return "", usageError{"pass --state-dir, or --account with the handle or DID", "the default state dir is named after the DID"}
	}
	did, err := accountDID(c, "", "")
	if isInput(err) {
		// The resolver's hint names flags of the commands that talk to a
		// PDS; this one reads local state only.
		return "", usageError{err.Error(), "pass --account with the DID, or --state-dir"}
	}
	if err != nil {
		return "", err
	}
	return checkpoint.DefaultDir(did)
}

// migrationState reads the migration state --state-dir or --account
// names, for the commands that only look at a migration (status, watch):
// without one there is nothing for them to show.
func migrationState(c *cli.Context) (dir string, st *checkpoint.State, err error) {
	dir, err = stateDirOf(c)
	if err != nil {
		return "", nil, err
	}
	st, err = loadState(dir, "check --state-dir (or --account)")
	return dir, st, err
}

// loadState reads the migration state in dir. A dir without one is a
// usage error, with hint naming the flags that chose it.
func loadState(dir, hint string) (*checkpoint.State, error) {
	st, err := checkpoint.Load(dir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, usageError{"no migration state in " + dir, hint}
	}
	return st, nil
}
