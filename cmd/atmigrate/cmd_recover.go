package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate/identity"
)

var cmdPLCRecover = &cli.Command{
	Name:  "recover",
	Usage: "undo every PLC operation after the migration's own (or --to CID) within 72 hours, signed with a higher rotation key",
	Description: withExitCodes("Builds an operation whose prev is the operation to keep and whose document is that operation's,\n"+
		"signs it with --rotation-key, and refuses before submitting when the key is not a rotation key of\n"+
		"the kept operation, is not above the key that signed the first operation after it, or when that\n"+
		"operation is more than 72 hours old. The PLC directory then marks every later operation nullified.", "plc recover"),
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "the migration's state directory: the DID, the PLC directory and the operation to keep"},
		&cli.StringFlag{Name: "account", Usage: "handle or DID, without a state dir (needs --to)", EnvVars: []string{"ATMIGRATE_ACCOUNT"}},
		&cli.StringFlag{Name: "old-pds", Usage: "the account's PDS: resolve a handle through it (default: DNS/HTTPS)"},
		plcURLFlag,
		&cli.StringFlag{Name: "to", Usage: "CID of the operation to go back to (default: the migration's own)"},
		&cli.StringFlag{Name: "rotation-key", Usage: "file with a rotation key listed above the one that signed the operations to undo (env ATMIGRATE_ROTATION_KEY holds the key itself)"},
		&cli.StringFlag{Name: "rotation-key-type", Usage: "curve of a hex key: k256 or p256", Value: "k256"},
		&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation"},
		oldString("pds", "old-pds"),
		stallFlag,
	},
	Action: runPLCRecover,
}

func runPLCRecover(c *cli.Context) error {
	key, err := rotationKey(c)
	if err != nil {
		return err
	}
	if key == nil {
		return usageError{"--rotation-key is required", "the file holds the private key whose did:key is listed above the one that signed what you undo"}
	}
	o := identity.RecoverOptions{PLCURL: c.String("plc-url"), Keep: c.String("to"), Key: key, Yes: c.Bool("yes"), HTTPClient: runClient(c)}
	if dir := c.String("state-dir"); dir != "" {
		st, err := loadState(dir, "check --state-dir")
		if err != nil {
			return err
		}
		o.DID = st.DID
		if !c.IsSet("plc-url") && st.PLCURL != "" {
			o.PLCURL = st.PLCURL
		}
		if o.Keep == "" {
			o.Keep = st.PLC.OpCID
		}
		if o.Keep == "" {
			return usageError{"the migration in " + dir + " has not submitted its PLC operation", "pass --to CID (see `atmigrate plc log`)"}
		}
	} else {
		if c.String("account") == "" {
			return usageError{"pass --state-dir, or --account with --to", ""}
		}
		if o.Keep == "" {
			return usageError{"--to is required without --state-dir", "`atmigrate plc log --account " + c.String("account") + "` lists the operations; pass the CID of the last one to keep"}
		}
		did, err := resolveForPLC(c)
		if err != nil {
			return err
		}
		o.DID = did
	}
	out := newOutput(os.Stderr)
	o.UI, o.Progress = newTerminalUI(out), out
	res, err := identity.Recover(c.Context, o)
	out.Close()
	if err != nil {
		return err
	}
	if res.OpCID == "" {
		fmt.Fprintf(os.Stderr, "atmigrate: no operation follows %s; nothing to undo\n", res.Review.Kept.CID)
		return nil
	}
	fmt.Fprintf(os.Stderr, "atmigrate: submitted %s (prev %s, signed by your key); the directory marks nullified:\n", res.OpCID, res.Review.Kept.CID)
	for _, l := range res.Review.Later {
		fmt.Fprintf(os.Stderr, "  %s  %s\n", l.CID, strings.Join(l.Changes, "; "))
	}
	fmt.Fprintf(os.Stderr, "atmigrate: %s points at %s again\n", res.DID, res.Endpoint)
	fmt.Fprintln(os.Stderr, "atmigrate: hint: the key that signed them can sign again: keep watching (`atmigrate watch`), and move away from whoever holds it")
	return nil
}
